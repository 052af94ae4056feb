-- Closing the loop (R7, R23, R29): a recovery case per unhappy customer, and the outer loop's
-- improvement actions per root-cause department.
--
-- One open case per customer and tenant: a second signal while it is open (another unhappy answer,
-- a breach) joins it as a step of its timeline instead of opening a second case, so the recovery rate
-- counts customers, not signals. open_ref makes each opening signal idempotent (a redelivered event
-- opens nothing twice).
-- depends: 0003_tenant_rules_and_keys

CREATE TABLE recovery_cases (
    tenant                text        NOT NULL,
    case_id               uuid        NOT NULL,
    open_ref              text        NOT NULL,
    customer_id           text        NOT NULL,
    team_id               text        NOT NULL,
    agent_id              text,
    trigger               text        NOT NULL,
    opened_at             timestamptz NOT NULL,
    due_at                timestamptz NOT NULL,
    survey_id             uuid,
    complaint_id          uuid,
    contact_id            text,
    reason                text,
    topics                text[]      NOT NULL DEFAULT '{}',
    first_satisfaction    smallint,
    status                text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    escalated_at          timestamptz,
    callback_id           uuid,
    callback_outcome      text,
    churn_signal          boolean     NOT NULL DEFAULT false,
    recovery_survey_id    uuid,
    recovery_satisfaction smallint,
    suggested_outcome     text,
    root_cause_department text,
    outcome               text CHECK (outcome IN ('recovered', 'not_recovered', 'customer_left', 'no_action_needed')),
    closed_at             timestamptz,
    closed_by             text,
    close_note            text,
    PRIMARY KEY (tenant, case_id),
    UNIQUE (tenant, open_ref),
    CHECK ((status = 'closed') = (outcome IS NOT NULL AND root_cause_department IS NOT NULL AND closed_at IS NOT NULL))
);
CREATE UNIQUE INDEX recovery_cases_one_open ON recovery_cases (tenant, customer_id) WHERE status = 'open';
CREATE INDEX recovery_cases_team ON recovery_cases (tenant, team_id, status, opened_at DESC);
CREATE INDEX recovery_cases_closed ON recovery_cases (tenant, closed_at) WHERE status = 'closed';
CREATE INDEX recovery_cases_callback ON recovery_cases (tenant, callback_id) WHERE callback_id IS NOT NULL;

-- The case's timeline: what opened it, what joined it, what the callback and the recovery survey said,
-- who set the department, the escalation and the close. Detail holds codes and scores, no words.
CREATE TABLE recovery_steps (
    tenant   text        NOT NULL,
    case_id  uuid        NOT NULL,
    step_no  bigserial,
    at       timestamptz NOT NULL,
    kind     text        NOT NULL,
    actor    text,
    detail   jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant, case_id, step_no),
    FOREIGN KEY (tenant, case_id) REFERENCES recovery_cases (tenant, case_id)
);

-- The outer loop (R7): what a department will change, by whom and when; figures before and after
-- are computed from the cases and complaints, never stored.
CREATE TABLE improvement_actions (
    tenant      text        NOT NULL,
    action_id   uuid        NOT NULL,
    department  text        NOT NULL,
    title       text        NOT NULL,
    owner       text        NOT NULL,
    due_on      date        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('planned', 'in_progress', 'done', 'dropped')),
    note        text,
    created_at  timestamptz NOT NULL,
    created_by  text        NOT NULL,
    updated_at  timestamptz NOT NULL,
    updated_by  text        NOT NULL,
    done_at     timestamptz,
    version     integer     NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant, action_id),
    CHECK ((status = 'done') = (done_at IS NOT NULL))
);
CREATE INDEX improvement_actions_department ON improvement_actions (tenant, department, status);

-- Why the customer was unhappy and the topics of their comment (codes), for the context panel (R27).
ALTER TABLE ctx_surveys ADD COLUMN reason text, ADD COLUMN topics text[] NOT NULL DEFAULT '{}';
