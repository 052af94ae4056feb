-- Side effects outside Kafka (e-mail, SMS, webhooks): recorded with the state change that causes them,
-- then tried, retried and kept by a delivery worker (hoera_kit.deliveries).
-- depends: kit_0002_timers

CREATE TABLE kit_deliveries (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- A redelivered event that enqueues the same side effect again finds this key and adds nothing.
    idempotency_key  text        NOT NULL UNIQUE,
    channel          text        NOT NULL CHECK (channel IN ('email', 'sms', 'webhook')),
    recipient        text        NOT NULL,
    subject          text        NOT NULL DEFAULT '',
    body_text        text        NOT NULL,
    body_html        text,
    language         text,
    -- The aggregate the delivery belongs to, e.g. 'complaint:<uuid>', to list a dossier's deliveries.
    reference        text        NOT NULL,
    headers          jsonb       NOT NULL DEFAULT '{}',
    tenant           text        NOT NULL,
    state            text        NOT NULL DEFAULT 'pending'
                                 CHECK (state IN ('pending', 'sent', 'failed', 'given_up')),
    attempts         int         NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- NULL: the worker's limit applies.
    max_attempts     int         CHECK (max_attempts IS NULL OR max_attempts >= 1),
    -- While an attempt runs this is its lease's end: a worker that died mid-send is replaced then.
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    last_error       text,
    provider_id      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX kit_deliveries_due ON kit_deliveries (state, next_attempt_at);
CREATE INDEX kit_deliveries_reference ON kit_deliveries (reference);
