-- The raw ceiling of PostgreSQL for didhub's purchase: the same transaction as
-- /api/did/assign (conditional number claim + conditional balance debit +
-- ledger insert), driven by pgbench. Uses the upper half of the inventory ids.
-- pgbench -n -M prepared -f bench/purchase.sql -D numbers=N -D accounts=A -c 16 -j 2 -T 15
\set did random(:numbers / 2 + 1, :numbers)
\set acct random(1, :accounts)
BEGIN;
UPDATE dids SET status = 'assigned', account_id = :acct, assigned_at = 1, paid_through = 2, updated_at = 1
 WHERE id = :did AND status = 'available';
UPDATE accounts SET balance_minor = balance_minor - 300 WHERE id = :acct AND balance_minor >= 300;
INSERT INTO ledger_entries (account_id, kind, amount_minor, balance_after_minor, did_id, did_number, description, created_at)
 VALUES (:acct, 'setup_fee', -300, 0, :did, '+33100000000', 'ceiling', 1);
COMMIT;
