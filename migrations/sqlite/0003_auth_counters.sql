-- Fixed-window counters of login attempts and failed authentications, keyed
-- by what they count (`pair:<user>|<address>`, `user:<user>`, `addr:<address>`,
-- `logins:<address>`), shared by every instance. Replaces login_failures,
-- which counted per username only and let a stranger lock a customer out.
CREATE TABLE auth_counters (
    counter_key TEXT   PRIMARY KEY,
    hits        BIGINT NOT NULL,
    window_end  BIGINT NOT NULL
);

CREATE INDEX auth_counters_window_end ON auth_counters (window_end);

DROP TABLE login_failures;
