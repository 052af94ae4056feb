-- The survey service's own tables: rules (R8), customers' standing and contact budget (R10, R21,
-- R30), surveys with their single-use links (R17), answers (R18, R19) and suppressions (R21).

CREATE TABLE survey_rules (
    name        text PRIMARY KEY,
    version     int NOT NULL,
    document    jsonb NOT NULL,
    changed_by  text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE survey_rules_audit (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    version     int NOT NULL,
    document    jsonb NOT NULL,
    previous    jsonb,
    changed_by  text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX survey_rules_audit_by_name ON survey_rules_audit (name, version);

-- One row per customer: the row every budget decision locks (FOR UPDATE), so two contacts of one
-- customer closing at the same instant are decided one after the other.
CREATE TABLE customers (
    tenant          text NOT NULL,
    customer_id     text NOT NULL,
    deceased_at     timestamptz,
    opted_out_at    timestamptz,
    opted_out_by    text,
    PRIMARY KEY (tenant, customer_id)
);

-- Every contact made with a customer that counts against their budget.
CREATE TABLE budget_spends (
    id           bigserial PRIMARY KEY,
    tenant       text NOT NULL,
    customer_id  text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('survey', 'proactive')),
    spent_at     timestamptz NOT NULL,
    reference    text NOT NULL,
    UNIQUE (tenant, kind, reference)
);
CREATE INDEX budget_spends_by_customer ON budget_spends (tenant, customer_id, spent_at);

CREATE TABLE surveys (
    survey_id        uuid PRIMARY KEY,
    tenant           text NOT NULL,
    customer_id      text NOT NULL,
    trigger          text NOT NULL,
    trigger_ref      text NOT NULL,
    channel          text NOT NULL,
    language         text NOT NULL,
    contact_id       text,
    complaint_id     uuid,
    callback_id      uuid,
    agent_id         text,
    team_id          text,
    age_band         text,
    recording_ref    text,
    correlation_id   uuid,
    state            text NOT NULL CHECK (state IN ('scheduled', 'invited', 'answered', 'suppressed')),
    requested_at     timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    delivery_channel text,
    invited_at       timestamptz,
    expires_at       timestamptz,
    link_nonce       text,
    answered_at      timestamptz,
    UNIQUE (tenant, trigger_ref)
);
CREATE INDEX surveys_by_customer ON surveys (tenant, customer_id);
CREATE INDEX surveys_invited ON surveys (invited_at) WHERE invited_at IS NOT NULL;

CREATE TABLE survey_answers (
    survey_id     uuid PRIMARY KEY REFERENCES surveys (survey_id),
    answered_at   timestamptz NOT NULL,
    language      text NOT NULL,
    satisfaction  smallint CHECK (satisfaction BETWEEN 1 AND 5),
    effort        smallint CHECK (effort BETWEEN 1 AND 5),
    nps           smallint CHECK (nps BETWEEN 0 AND 10),
    attributes    jsonb NOT NULL DEFAULT '{}'::jsonb,
    comment       text,
    contact_me    jsonb
);

-- Never silent (R21): every contact that was asked for and not made, with its reason.
CREATE TABLE suppressions (
    id             bigserial PRIMARY KEY,
    tenant         text NOT NULL,
    customer_id    text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('survey', 'proactive')),
    trigger        text,
    reason         text NOT NULL,
    detail         text NOT NULL,
    survey_id      uuid,
    channel        text,
    team_id        text,
    reference      text NOT NULL,
    suppressed_at  timestamptz NOT NULL
);
CREATE INDEX suppressions_by_time ON suppressions (suppressed_at);
CREATE INDEX suppressions_by_customer ON suppressions (tenant, customer_id);
