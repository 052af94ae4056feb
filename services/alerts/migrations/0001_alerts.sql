-- The alerts service's own tables: operator data (R8), the facts the dashboard counts (R25), the
-- alerts and who was told (R23, R24, R4, R15), and each team's threshold state (R24).

-- Operator data: one validated JSON document per kind, its current version and who changed it.
CREATE TABLE rules (
    name        text        PRIMARY KEY,
    body        jsonb       NOT NULL,
    version     int         NOT NULL,
    changed_by  text        NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
-- Every version ever saved, seed included: who changed what, when.
CREATE TABLE rules_audit (
    id          bigserial   PRIMARY KEY,
    name        text        NOT NULL,
    version     int         NOT NULL,
    body        jsonb       NOT NULL,
    changed_by  text        NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version)
);

-- Survey answers (R18): the first answer of a survey counts, a repeat is ignored.
CREATE TABLE answers (
    survey_id     uuid        PRIMARY KEY,
    tenant        text        NOT NULL,
    team_id       text,
    agent_id      text,
    contact_id    text,
    complaint_id  uuid,
    answered_at   timestamptz NOT NULL,
    satisfaction  smallint,
    effort        smallint,
    nps           smallint,
    unhappy       boolean     NOT NULL
);
CREATE INDEX answers_team_time ON answers (tenant, team_id, answered_at DESC);
CREATE INDEX answers_complaint ON answers (complaint_id) WHERE complaint_id IS NOT NULL;

-- Invitations, for the response rate (R20).
CREATE TABLE invitations (
    survey_id   uuid        PRIMARY KEY,
    tenant      text        NOT NULL,
    team_id     text,
    invited_at  timestamptz NOT NULL
);
CREATE INDEX invitations_team_time ON invitations (tenant, team_id, invited_at DESC);

-- Closed contacts, for first-contact resolution where the platform records it (R9).
CREATE TABLE contacts (
    tenant                  text        NOT NULL,
    contact_id              text        NOT NULL,
    team_id                 text        NOT NULL,
    closed_at               timestamptz NOT NULL,
    first_contact_resolved  boolean,
    PRIMARY KEY (tenant, contact_id)
);
CREATE INDEX contacts_team_time ON contacts (tenant, team_id, closed_at DESC);

-- Complaints: the root cause names the department at fault (R7), for the dashboard's split.
CREATE TABLE complaints (
    complaint_id              uuid        PRIMARY KEY,
    tenant                    text        NOT NULL,
    team_id                   text,
    category                  text,
    raised_at                 timestamptz,
    root_cause_department     text,
    first_contact_resolution  boolean,
    resolved_at               timestamptz,
    closed_at                 timestamptz
);
CREATE INDEX complaints_team_resolved ON complaints (tenant, team_id, resolved_at DESC);

CREATE TABLE alerts (
    alert_id               uuid        PRIMARY KEY,
    tenant                 text        NOT NULL,
    kind                   text        NOT NULL,
    severity               text        NOT NULL,
    status                 text        NOT NULL CHECK (status IN ('open', 'acknowledged', 'info')),
    team_id                text,
    agent_id               text,
    customer_id            text,
    complaint_id           uuid,
    survey_id              uuid,
    contact_id             text,
    satisfaction           smallint,
    recording_ref          text,
    -- What the customer answered and wrote, the threshold reading, the notice's facts.
    details                jsonb       NOT NULL DEFAULT '{}',
    raised_at              timestamptz NOT NULL,
    acknowledged_by        text,
    acknowledged_at        timestamptz,
    action                 text,
    note                   text,
    root_cause_department  text
);
CREATE INDEX alerts_team ON alerts (tenant, team_id, status, raised_at DESC);

-- Who was told about an alert, through which delivery; delivered_at once the mail was accepted.
CREATE TABLE alert_recipients (
    alert_id      uuid        NOT NULL REFERENCES alerts,
    recipient_id  text        NOT NULL,
    role          text        NOT NULL,
    deputy_for    text,
    delivery_id   uuid        NOT NULL,
    delivered_at  timestamptz,
    given_up      boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (alert_id, recipient_id)
);
CREATE INDEX alert_recipients_delivery ON alert_recipients (delivery_id);

-- R24: whether a team's threshold alert is raised and not yet recovered (the hysteresis).
CREATE TABLE threshold_state (
    tenant      text             NOT NULL,
    team_id     text             NOT NULL,
    alerting    boolean          NOT NULL DEFAULT false,
    csat        double precision,
    sample_size int              NOT NULL DEFAULT 0,
    changed_at  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, team_id)
);

-- R4: notices waiting for management's next digest, when the rules ask for digests.
CREATE TABLE pending_notices (
    alert_id   uuid        PRIMARY KEY REFERENCES alerts,
    tenant     text        NOT NULL,
    queued_at  timestamptz NOT NULL DEFAULT now()
);
