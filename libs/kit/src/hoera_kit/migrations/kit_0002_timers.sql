-- Durable timers: a row with a due time and a key, fired once by whichever replica locks it first.
-- depends: kit_0001_outbox_inbox

CREATE TABLE kit_timers (
    id            bigserial   PRIMARY KEY,
    kind          text        NOT NULL,
    key           text        NOT NULL,
    due_at        timestamptz NOT NULL,
    payload       jsonb       NOT NULL DEFAULT '{}',
    attempts      int         NOT NULL DEFAULT 0,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, key)
);
CREATE INDEX kit_timers_due ON kit_timers (due_at);

CREATE TABLE kit_timers_fired (
    kind          text        NOT NULL,
    key           text        NOT NULL,
    due_at        timestamptz NOT NULL,
    fired_at      timestamptz NOT NULL DEFAULT now(),
    fired_by      text        NOT NULL
);
CREATE INDEX kit_timers_fired_key ON kit_timers_fired (kind, key);
