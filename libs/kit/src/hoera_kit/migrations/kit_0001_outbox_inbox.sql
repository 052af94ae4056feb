-- The kit's tables in every service database: the transactional outbox and the consumer inbox.

CREATE TABLE kit_outbox (
    seq           bigserial PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,
    topic         text        NOT NULL,
    key           text        NOT NULL,
    -- Rows of one key always share a shard; one relay at a time owns a shard, so per-key order holds
    -- while several relays share the work.
    shard         int         NOT NULL,
    payload       bytea       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kit_outbox_shard_seq ON kit_outbox (shard, seq);

CREATE TABLE kit_inbox (
    consumer      text        NOT NULL,
    event_id      text        NOT NULL,
    topic         text        NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    outcome       text        NOT NULL DEFAULT 'processed',
    PRIMARY KEY (consumer, event_id)
);
