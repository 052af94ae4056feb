-- The supervisor's drill-down (R25): from a figure to the answers behind it, filtered by channel and
-- read with the customer's own words. Answers stored before this carry neither (NULL). Forward only.
-- depends: 0002_tenants

ALTER TABLE answers ADD COLUMN channel text, ADD COLUMN comment text;
CREATE INDEX answers_team_agent_time ON answers (tenant, team_id, agent_id, answered_at DESC);
