-- The callback queue (R26-R29), its outcomes, the operator rules (R8) and the read model of other
-- services' events that gives the agent the context before dialling (R27).

-- Operator data: one document in force, every version audited.
CREATE TABLE callback_rules (
    id          int         PRIMARY KEY CHECK (id = 1),
    version     int         NOT NULL,
    body        jsonb       NOT NULL,
    changed_by  text        NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE callback_rules_audit (
    id              bigserial   PRIMARY KEY,
    version         int         NOT NULL,
    body            jsonb       NOT NULL,
    previous        jsonb,
    changed_by      text        NOT NULL,
    changed_fields  text[]      NOT NULL,
    changed_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per callback. request_ref makes a request idempotent: the same survey answer or complaint
-- moment delivered twice finds its row and adds nothing.
CREATE TABLE callbacks (
    callback_id        uuid        PRIMARY KEY,
    tenant             text        NOT NULL,
    request_ref        text        NOT NULL,
    customer_id        text        NOT NULL,
    team_id            text        NOT NULL,
    source             text        NOT NULL,
    language           text        NOT NULL,
    preferred_channel  text        NOT NULL DEFAULT 'phone',
    preferred_moment   text,
    preferred_at       timestamptz,
    survey_id          uuid,
    complaint_id       uuid,
    contact_id         text,
    alert_id           uuid,
    earlier_agent_id   text,
    reason_code        text,
    satisfaction       smallint,
    request_note       text,
    requested_by       text,
    requested_at       timestamptz NOT NULL,
    due_at             timestamptz NOT NULL,
    escalated_at       timestamptz,
    priority           text        NOT NULL,
    priority_score     int         NOT NULL,
    priority_reasons   text[]      NOT NULL DEFAULT '{}',
    churn_risk         boolean     NOT NULL DEFAULT false,
    status             text        NOT NULL
        CHECK (status IN ('queued', 'claimed', 'waiting_retry', 'done', 'withdrawn')),
    attempt            int         NOT NULL DEFAULT 1,
    claim_id           uuid,
    claimed_by         text,
    claimed_at         timestamptz,
    lease_until        timestamptz,
    retry_at           timestamptz,
    outcome            text,
    completed_at       timestamptz,
    completed_by       text,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, request_ref),
    CHECK (status <> 'claimed' OR (claimed_by IS NOT NULL AND lease_until IS NOT NULL AND claim_id IS NOT NULL))
);
-- The queue's order (store.claim_next): priority, then age, then id, within a team.
CREATE INDEX callbacks_queue ON callbacks (tenant, team_id, priority_score DESC, requested_at, callback_id)
    WHERE status IN ('queued', 'claimed');
CREATE INDEX callbacks_customer ON callbacks (tenant, customer_id, requested_at);
CREATE INDEX callbacks_holder ON callbacks (tenant, claimed_by) WHERE status = 'claimed';

-- Each attempt's outcome, with the agent's note (R28); the figures are computed from here.
CREATE TABLE callback_outcomes (
    callback_id  uuid        NOT NULL REFERENCES callbacks (callback_id),
    attempt      int         NOT NULL,
    tenant       text        NOT NULL,
    team_id      text        NOT NULL,
    agent_id     text        NOT NULL,
    outcome      text        NOT NULL,
    reached      boolean     NOT NULL,
    note         text,
    retry_at     timestamptz,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (callback_id, attempt)
);
CREATE INDEX callback_outcomes_week ON callback_outcomes (tenant, recorded_at);

-- ---- read model of other services' events (R27); never their tables --------------------------------

CREATE TABLE ctx_contacts (
    tenant                  text        NOT NULL,
    contact_id              text        NOT NULL,
    customer_id             text        NOT NULL,
    channel                 text        NOT NULL,
    agent_id                text        NOT NULL,
    team_id                 text        NOT NULL,
    language                text        NOT NULL,
    closed_at               timestamptz NOT NULL,
    reason_code             text,
    first_contact_resolved  boolean,
    recording_ref           text,
    PRIMARY KEY (tenant, contact_id)
);
CREATE INDEX ctx_contacts_customer ON ctx_contacts (tenant, customer_id, closed_at DESC);

CREATE TABLE ctx_complaints (
    tenant                    text        NOT NULL,
    complaint_id              uuid        NOT NULL,
    customer_id               text        NOT NULL,
    category                  text,
    language                  text,
    team_id                   text,
    agent_id                  text,
    contact_id                text,
    due_date                  date,
    raised_at                 timestamptz,
    breached_at               timestamptz,
    resolved_at               timestamptz,
    closed_at                 timestamptz,
    reopened_at               timestamptz,
    root_cause_department     text,
    first_contact_resolution  boolean,
    PRIMARY KEY (tenant, complaint_id)
);
CREATE INDEX ctx_complaints_customer ON ctx_complaints (tenant, customer_id);

CREATE TABLE ctx_surveys (
    tenant        text        NOT NULL,
    survey_id     uuid        NOT NULL,
    customer_id   text        NOT NULL,
    trigger       text        NOT NULL,
    channel       text        NOT NULL,
    language      text        NOT NULL,
    answered_at   timestamptz NOT NULL,
    contact_id    text,
    complaint_id  uuid,
    callback_id   uuid,
    agent_id      text,
    team_id       text,
    satisfaction  smallint,
    effort        smallint,
    nps           smallint,
    attributes    jsonb       NOT NULL DEFAULT '{}',
    comment       text,
    contact_me    boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (tenant, survey_id)
);
CREATE INDEX ctx_surveys_customer ON ctx_surveys (tenant, customer_id, answered_at DESC);

CREATE TABLE ctx_alerts (
    tenant        text        NOT NULL,
    alert_id      uuid        NOT NULL,
    customer_id   text        NOT NULL,
    kind          text        NOT NULL,
    severity      text        NOT NULL,
    raised_at     timestamptz NOT NULL,
    team_id       text,
    agent_id      text,
    complaint_id  uuid,
    survey_id     uuid,
    contact_id    text,
    satisfaction  smallint,
    PRIMARY KEY (tenant, alert_id)
);
CREATE INDEX ctx_alerts_customer ON ctx_alerts (tenant, customer_id, raised_at DESC);

-- What we learnt about a customer that outlives one callback: R10 and R29.
CREATE TABLE ctx_customers (
    tenant                  text        NOT NULL,
    customer_id             text        NOT NULL,
    deceased_at             timestamptz,
    considering_leaving_at  timestamptz,
    PRIMARY KEY (tenant, customer_id)
);
