-- R10: marking a customer deceased moves their open complaints to one named owner and sends their mail
-- to the next of kin, so it is done with a reason, audited, and can be withdrawn by a supervisor of the
-- team. The audit keeps what each marking moved: a withdrawal puts back what still stands.
-- depends: 0001_intake

-- The reason of the marking in force (the platform's markings carry a fixed one).
ALTER TABLE deceased_customers ADD COLUMN reason text NOT NULL DEFAULT '';

CREATE TABLE deceased_audit (
    id              bigserial   PRIMARY KEY,
    tenant          text        NOT NULL,
    customer_id     text        NOT NULL,
    action          text        NOT NULL CHECK (action IN ('marked', 'withdrawn')),
    actor           text        NOT NULL,
    at              timestamptz NOT NULL,
    reason          text        NOT NULL,
    -- The case's named owner: the one the marking named, or the one the withdrawal took the case from.
    owner_agent_id  text        NOT NULL,
    team_id         text,
    -- The complaints that changed hands: [{complaint_id, from_agent_id, from_team_id, to_agent_id,
    -- to_team_id}]; a withdrawal lists what it gave back.
    moved           jsonb       NOT NULL DEFAULT '[]'
);
CREATE INDEX deceased_audit_customer ON deceased_audit (tenant, customer_id, id);
