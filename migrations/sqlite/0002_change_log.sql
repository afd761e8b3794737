-- What one process changed that others on the same SQLite file hold in memory
-- (route table, shelf of numbers on sale, cached tokens). SQLite commits one
-- writer at a time, so ids become visible in order and a reader can follow
-- them with `id > last seen`. (PostgreSQL instances use LISTEN/NOTIFY instead.)
CREATE TABLE change_log (
    id         INTEGER PRIMARY KEY,
    subject    TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
