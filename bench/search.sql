-- The raw ceiling of PostgreSQL for /api/did/available: the token check and
-- the page query didhub runs, driven by pgbench.
SELECT account_id FROM api_tokens WHERE token_hash = 'x' AND revoked_at IS NULL AND expires_at > 0;
SELECT id, number, country, did_type, region, currency, setup_minor, monthly_minor, status, account_id,
       assigned_at, paid_through, aging_until, forward_type, forward_destination, updated_at
  FROM dids WHERE country = 'FR' AND status = 'available' AND did_type = 'landline' ORDER BY number LIMIT 20;
