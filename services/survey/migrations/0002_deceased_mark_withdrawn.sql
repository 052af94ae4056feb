-- R10: a deceased mark made by mistake can be withdrawn, and the customer may be surveyed again.
-- Marks and withdrawals arrive on two topics in no fixed order, so the latest withdrawal's time is
-- kept: a mark older than it that arrives late stays undone. customers.deceased_at is the mark in
-- force (null once withdrawn); the history keeps every mark and withdrawal with what it left behind.
-- depends: 0001_survey

ALTER TABLE customers ADD COLUMN deceased_mark_withdrawn_at timestamptz;

CREATE TABLE deceased_mark_history (
    id              bigserial PRIMARY KEY,
    tenant          text NOT NULL,
    customer_id     text NOT NULL,
    change          text NOT NULL CHECK (change IN ('marked', 'withdrawn')),
    occurred_at     timestamptz NOT NULL,
    -- the case owner named with a mark; the supervisor who withdrew one
    agent_id        text NOT NULL,
    event_id        uuid NOT NULL,
    -- the standing this change left: a late, older event changes nothing and says so here
    deceased_after  boolean NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deceased_mark_history_by_customer ON deceased_mark_history (tenant, customer_id, recorded_at);
