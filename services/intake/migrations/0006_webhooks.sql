-- Webhooks to a tenant's partners (its CRM, a data warehouse, a ticketing tool): the HTTPS endpoints its
-- administrators subscribe to event types, with filters. Each matching event becomes one kit delivery
-- per endpoint (reference 'webhook:<id>'), signed at send time with the endpoint's secrets (Standard
-- Webhooks). The deliveries are the endpoint's delivery log.
-- depends: 0005_erasures

CREATE TABLE webhook_endpoints (
    id                    uuid        PRIMARY KEY,
    tenant                text        NOT NULL,
    url                   text        NOT NULL,
    description           text        NOT NULL DEFAULT '',
    -- Registered event types ('survey.answered'), or '*' for every one.
    event_types           text[]      NOT NULL,
    -- {"equals": {field: value}, "at_most": {field: number}, "at_least": {field: number}} on the data.
    filters               jsonb       NOT NULL DEFAULT '{}',
    -- Per event key (the Kafka partition key), one delivery after the other.
    ordered               boolean     NOT NULL DEFAULT false,
    state                 text        NOT NULL DEFAULT 'enabled' CHECK (state IN ('enabled', 'disabled')),
    disabled_reason       text,
    disabled_at           timestamptz,
    -- whsec_ + base64 of random bytes; the previous one stays valid until the next rotation.
    secret                text        NOT NULL,
    previous_secret       text,
    secret_rotated_at     timestamptz,
    -- Failed attempts since the last success, and since when: past the limits the endpoint is disabled.
    consecutive_failures  int         NOT NULL DEFAULT 0,
    failing_since         timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    created_by            text        NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    updated_by            text        NOT NULL,
    CHECK ((state = 'disabled') = (disabled_at IS NOT NULL))
);
-- The one query of a consumer batch: every endpoint of the batch's tenants.
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant, created_at);
