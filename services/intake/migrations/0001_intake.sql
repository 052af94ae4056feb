-- Intake: the complaint dossier (R1), its SLA clock (R2, R3), timeline, step durations (R6), contacts
-- for first-contact resolution (R9), deceased customers (R10), idempotent HTTP edges, rules (R8).

CREATE TABLE complaints (
    id                        uuid        PRIMARY KEY,
    tenant                    text        NOT NULL,
    customer_id               text        NOT NULL,
    channel                   text        NOT NULL,
    category                  text        NOT NULL,
    language                  text        NOT NULL,
    summary                   text        NOT NULL,
    status                    text        NOT NULL,
    status_since              timestamptz NOT NULL,
    team_id                   text,
    agent_id                  text,
    contact_id                text,
    -- The platform's own number: a complaint sent twice (HTTP and Kafka, or retried) is one dossier.
    platform_ref              text,
    about_deceased            boolean     NOT NULL DEFAULT false,
    received_via              text        NOT NULL,
    raised_at                 timestamptz NOT NULL,
    -- The SLA clock. Timers carry sla_version; one that does not match was overtaken and does nothing.
    due_date                  date        NOT NULL,
    sla_unit                  text        NOT NULL CHECK (sla_unit IN ('business_days', 'seconds')),
    sla_reminder_lead         int         NOT NULL,
    reminder_at               timestamptz,
    escalate_at               timestamptz NOT NULL,
    breach_at                 timestamptz NOT NULL,
    paused_at                 timestamptz,
    sla_version               int         NOT NULL DEFAULT 1,
    reminded_at               timestamptz,
    escalated_at              timestamptz,
    breached_at               timestamptz,
    acknowledged_at           timestamptz,
    root_cause_department     text,
    first_contact_resolution  boolean,
    resolved_at               timestamptz,
    closed_at                 timestamptz,
    reopen_count              int         NOT NULL DEFAULT 0,
    updated_at                timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, platform_ref)
);
CREATE INDEX complaints_customer ON complaints (tenant, customer_id);
CREATE INDEX complaints_listing ON complaints (tenant, raised_at DESC, id DESC);
CREATE INDEX complaints_team_status ON complaints (tenant, team_id, status);
CREATE INDEX complaints_open_breach ON complaints (tenant, breach_at) WHERE status NOT IN ('resolved', 'closed');

-- Contact details the platform handed over with an HTTP submission (personal data, kept apart).
CREATE TABLE complainants (
    complaint_id       uuid PRIMARY KEY REFERENCES complaints (id) ON DELETE CASCADE,
    email              text,
    phone              text,
    prefer_sms         boolean NOT NULL DEFAULT false,
    next_of_kin_email  text
);

-- R1: every change to a dossier, what, who, when and why.
CREATE TABLE timeline (
    id            bigserial   PRIMARY KEY,
    complaint_id  uuid        NOT NULL REFERENCES complaints (id) ON DELETE CASCADE,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    what          text        NOT NULL,
    who           text        NOT NULL,
    why           text,
    detail        jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_complaint ON timeline (complaint_id, id);

-- R6: time spent in each status; the open period has no end yet.
CREATE TABLE status_periods (
    id            bigserial   PRIMARY KEY,
    complaint_id  uuid        NOT NULL REFERENCES complaints (id) ON DELETE CASCADE,
    tenant        text        NOT NULL,
    status        text        NOT NULL,
    category      text        NOT NULL,
    team_id       text,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz
);
CREATE UNIQUE INDEX status_periods_open ON status_periods (complaint_id) WHERE ended_at IS NULL;
CREATE INDEX status_periods_ended ON status_periods (tenant, ended_at);

-- Contacts closed on the platform (its topic or intake's HTTP edge): R9 figures, R10 marking.
CREATE TABLE contacts (
    tenant                  text        NOT NULL,
    contact_id              text        NOT NULL,
    customer_id             text        NOT NULL,
    channel                 text        NOT NULL,
    agent_id                text        NOT NULL,
    team_id                 text        NOT NULL,
    language                text        NOT NULL,
    closed_at               timestamptz NOT NULL,
    first_contact_resolved  boolean,
    about_deceased          boolean     NOT NULL DEFAULT false,
    reported_via            text        NOT NULL,
    recorded_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, contact_id)
);
CREATE INDEX contacts_team_closed ON contacts (tenant, team_id, closed_at);

-- R10: one named owner per deceased customer.
CREATE TABLE deceased_customers (
    tenant             text        NOT NULL,
    customer_id        text        NOT NULL,
    owner_agent_id     text        NOT NULL,
    team_id            text,
    marked_at          timestamptz NOT NULL,
    marked_by          text        NOT NULL,
    complaint_id       uuid,
    contact_id         text,
    next_of_kin_email  text,
    PRIMARY KEY (tenant, customer_id)
);

-- A retried POST with the same Idempotency-Key gets the first answer; a different body is refused.
CREATE TABLE idempotency_keys (
    tenant        text        NOT NULL,
    scope         text        NOT NULL,
    key           text        NOT NULL,
    request_hash  text        NOT NULL,
    status_code   int         NOT NULL DEFAULT 0,
    response      jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, scope, key)
);

-- R8: operator rules, one document per kind, and who changed what.
CREATE TABLE rules (
    kind        text        PRIMARY KEY,
    version     int         NOT NULL,
    document    jsonb       NOT NULL,
    changed_by  text        NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rules_audit (
    id          bigserial   PRIMARY KEY,
    kind        text        NOT NULL,
    version     int         NOT NULL,
    changed_by  text        NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    reason      text        NOT NULL DEFAULT '',
    before      jsonb,
    after       jsonb       NOT NULL
);
CREATE INDEX rules_audit_kind ON rules_audit (kind, id);
