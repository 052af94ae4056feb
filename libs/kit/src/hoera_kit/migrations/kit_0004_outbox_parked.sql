-- Outbox rows the broker refused for good (a record too large, a topic that refuses it): parked here with
-- the error, so the rows behind them go on; an operator lists and retries them (`hoera-kit outbox`).
-- depends: kit_0003_deliveries

CREATE TABLE kit_outbox_parked (
    seq           bigint      PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,
    topic         text        NOT NULL,
    key           text        NOT NULL,
    shard         int         NOT NULL,
    payload       bytea       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL,
    parked_at     timestamptz NOT NULL DEFAULT now(),
    error         text        NOT NULL
);
