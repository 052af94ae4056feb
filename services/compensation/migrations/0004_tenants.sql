-- Many contact centres on one platform. Every table of tenant data names the tenant in its key (an
-- id that a platform of another tenant also sends lands beside the first, never on it), and the
-- operator data moves to the kit's per-tenant rule documents (kit_rule_versions): today's rows become
-- version 1 of tenant demo's documents (the only tenant so far), and the old tables go.
-- depends: 0003_deceased_mark_withdrawn

-- ---- the tenant in every key ------------------------------------------------------------------------

ALTER TABLE apologies ADD COLUMN tenant text;
UPDATE apologies a SET tenant = c.tenant FROM complaints c WHERE c.complaint_id = a.complaint_id;
ALTER TABLE apologies ALTER COLUMN tenant SET NOT NULL;

ALTER TABLE damages ADD COLUMN tenant text;
UPDATE damages d SET tenant = c.tenant FROM complaints c WHERE c.complaint_id = d.complaint_id;
ALTER TABLE damages ALTER COLUMN tenant SET NOT NULL;

ALTER TABLE apologies DROP CONSTRAINT apologies_complaint_id_fkey, DROP CONSTRAINT apologies_pkey;
ALTER TABLE damages DROP CONSTRAINT damages_complaint_id_fkey, DROP CONSTRAINT damages_pkey;
ALTER TABLE compensations DROP CONSTRAINT compensations_complaint_id_fkey, DROP CONSTRAINT compensations_pkey;
ALTER TABLE flag_reviews DROP CONSTRAINT flag_reviews_flag_id_fkey, DROP CONSTRAINT flag_reviews_pkey;
ALTER TABLE customer_flags DROP CONSTRAINT customer_flags_pkey;
ALTER TABLE complaints DROP CONSTRAINT complaints_pkey;

ALTER TABLE complaints ADD PRIMARY KEY (tenant, complaint_id);
ALTER TABLE apologies
    ADD PRIMARY KEY (tenant, complaint_id),
    ADD FOREIGN KEY (tenant, complaint_id) REFERENCES complaints (tenant, complaint_id);
ALTER TABLE damages
    ADD PRIMARY KEY (tenant, complaint_id),
    ADD FOREIGN KEY (tenant, complaint_id) REFERENCES complaints (tenant, complaint_id);
ALTER TABLE compensations
    ADD PRIMARY KEY (tenant, compensation_id),
    ADD FOREIGN KEY (tenant, complaint_id) REFERENCES complaints (tenant, complaint_id);
ALTER TABLE customer_flags ADD PRIMARY KEY (tenant, flag_id);
ALTER TABLE flag_reviews
    ADD PRIMARY KEY (tenant, id),
    ADD FOREIGN KEY (tenant, flag_id) REFERENCES customer_flags (tenant, flag_id);

DROP INDEX compensations_one_live_per_complaint;
CREATE UNIQUE INDEX compensations_one_live_per_complaint
    ON compensations (tenant, complaint_id) WHERE status <> 'rejected';
DROP INDEX flag_reviews_by_flag;
CREATE INDEX flag_reviews_by_flag ON flag_reviews (tenant, flag_id, id);

-- An approval deadline's timer names the tenant of its compensation.
UPDATE kit_timers t SET payload = t.payload || jsonb_build_object('tenant', c.tenant)
FROM compensations c
WHERE t.kind = 'compensation.approval_deadline' AND t.key = c.compensation_id::text;

-- ---- the operator data becomes tenant demo's rule documents ------------------------------------------

INSERT INTO kit_rule_versions (tenant, name, version, document, changed_by, reason)
SELECT 'demo', 'catalogue', 1, jsonb_build_object('entries', jsonb_agg(entry ORDER BY code)), 'migration',
       'carried over from the catalogue table (entries not retired)'
FROM catalogue_entries WHERE NOT retired
HAVING count(*) > 0;

-- The organisation's own mandate where it had one, else the default row ('*').
WITH chosen AS (
    SELECT DISTINCT ON (role) role, jsonb_build_object('amount_cents', limit_cents, 'currency', currency) AS m
    FROM mandates WHERE tenant IN ('demo', '*') AND role IN ('agent', 'supervisor')
    ORDER BY role, tenant = 'demo' DESC
)
INSERT INTO kit_rule_versions (tenant, name, version, document, changed_by, reason)
SELECT 'demo', 'mandates', 1,
       jsonb_build_object('agent', (SELECT m FROM chosen WHERE role = 'agent'),
                          'supervisor', (SELECT m FROM chosen WHERE role = 'supervisor')),
       'migration', 'carried over from the mandates table'
WHERE (SELECT count(*) FROM chosen) = 2;

INSERT INTO kit_rule_versions (tenant, name, version, document, changed_by, reason)
SELECT 'demo', 'approval-deadline', 1, value, 'migration', 'carried over from the policies table'
FROM policies WHERE name = 'approval_deadline';

-- A flagged customer's money always goes to an approver: no longer a setting of the document.
INSERT INTO kit_rule_versions (tenant, name, version, document, changed_by, reason)
SELECT 'demo', 'abuse-watch', 1, value - 'flagged_needs_approval', 'migration',
       'carried over from the policies table'
FROM policies WHERE name = 'abuse_watch';

DROP TABLE rules_audit, policies, mandates, catalogue_entries;
