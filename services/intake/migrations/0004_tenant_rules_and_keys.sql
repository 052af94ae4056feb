-- Many contact centres on one platform. Forward only.
--
-- 1. Operator data moves to the kit's per-tenant rule documents (kit_rule_versions, created by the
--    kit's migrations, which run before the service's). Today's rows become version 1 of tenant
--    demo's documents (demo was the only tenant): categories, root-causes and templates as they are,
--    workflow without its default team per language (a complaint without a team now goes to the
--    organisation's first team that speaks its language). The teams, absences and calendar documents
--    become demo's organisation, version 1: a team's lead is its supervisor, its deputy the first of
--    its ordered deputies; the hand-typed holiday list gives way to Belgium's public holidays (the
--    holidays library knows every year). Intake publishes it at start (republish_missing).
-- 2. demo becomes a row of the tenants table (when it had rules, i.e. it was served), so intake
--    publishes its definition; an operator adds its platforms' keys (PATCH /tenants/demo).
-- 3. The tenant joins the key of every table of tenant data, and every foreign key.
-- 4. The SLA timers carry their dossier's tenant in their key (tenant/complaint_id).
-- depends: 0003_tenants

INSERT INTO kit_rule_versions (tenant, name, version, document, changed_by, reason)
SELECT 'demo', kind, 1,
       CASE WHEN kind = 'workflow' THEN document - 'default_team_by_language' ELSE document END,
       'migration', format('intake rules %s version %s, changed by %s', kind, version, changed_by)
FROM rules
WHERE kind IN ('categories', 'root-causes', 'templates', 'workflow');

WITH teams AS (
    SELECT t AS team FROM rules, jsonb_array_elements(document -> 'teams') AS t WHERE kind = 'teams'
),
members AS (
    SELECT team -> 'lead' AS person, 0 AS rank FROM teams
    UNION ALL
    SELECT team -> 'deputy', 1 FROM teams WHERE jsonb_typeof(team -> 'deputy') = 'object'
    UNION ALL
    SELECT m, 2 FROM teams, jsonb_array_elements(team -> 'members') AS m
),
people AS (
    SELECT DISTINCT ON (person ->> 'agent_id')
           jsonb_build_object(
               'id', person ->> 'agent_id',
               'name', person ->> 'agent_id',
               -- A person without an address had no mail before either; an unroutable one keeps the
               -- document valid until an administrator fills it in.
               'email', coalesce(person ->> 'email', (person ->> 'agent_id') || '@unknown.invalid'),
               'language', coalesce(person ->> 'language', 'nl')) AS person
    FROM members
    ORDER BY person ->> 'agent_id', rank
),
calendar AS (
    SELECT document AS cal FROM rules WHERE kind = 'calendar'
)
INSERT INTO kit_rule_versions (tenant, name, version, document, changed_by, reason)
SELECT 'demo', 'organisation', 1,
       jsonb_build_object(
           'people', coalesce((SELECT jsonb_agg(person ORDER BY person ->> 'id') FROM people), '[]'::jsonb),
           'teams', coalesce((
               SELECT jsonb_agg(jsonb_build_object(
                   'id', team ->> 'team_id',
                   'name', team ->> 'team_id',
                   'language', coalesce(team -> 'lead' ->> 'language', 'nl'),
                   'supervisor', team -> 'lead' ->> 'agent_id',
                   'deputies', CASE WHEN jsonb_typeof(team -> 'deputy') = 'object'
                                    THEN jsonb_build_array(team -> 'deputy' ->> 'agent_id')
                                    ELSE '[]'::jsonb END,
                   'members', coalesce((SELECT jsonb_agg(m ->> 'agent_id')
                                        FROM jsonb_array_elements(team -> 'members') AS m), '[]'::jsonb)))
               FROM teams), '[]'::jsonb),
           'management', '[]'::jsonb,
           'back_office', NULL,
           'absences', coalesce((
               SELECT jsonb_agg(jsonb_build_object(
                   'person', a ->> 'agent_id', 'starts_on', a ->> 'first_day', 'ends_on', a ->> 'last_day'))
               FROM rules, jsonb_array_elements(document -> 'absences') AS a WHERE kind = 'absences'),
               '[]'::jsonb),
           'calendar', coalesce((
               SELECT jsonb_build_object(
                   'timezone', coalesce(cal ->> 'timezone', 'Europe/Brussels'),
                   'workdays', coalesce(cal -> 'workdays', '[1, 2, 3, 4, 5]'::jsonb),
                   'opens', coalesce(cal -> 'business_hours' ->> 'opens', '08:00'),
                   -- A day open until midnight: 24:00 is no time of day, the calendar says so instead.
                   'closes', CASE WHEN cal -> 'business_hours' ->> 'closes' = '24:00' THEN '23:59'
                                  ELSE coalesce(cal -> 'business_hours' ->> 'closes', '18:00') END,
                   'open_all_day', coalesce(cal -> 'business_hours' ->> 'opens', '08:00') = '00:00'
                                   AND cal -> 'business_hours' ->> 'closes' = '24:00',
                   'holidays_country', 'BE',
                   'closed_days', '[]'::jsonb,
                   'open_days', '[]'::jsonb)
               FROM calendar), '{}'::jsonb)),
       'migration', 'intake rules teams, absences and calendar'
WHERE EXISTS (SELECT 1 FROM rules WHERE kind = 'teams');

INSERT INTO tenants (id, name, template, language, mail_from, updated_by)
SELECT 'demo', 'Demo', 'nl', 'nl', 'Hoera <no-reply@hoera.local>', 'migration'
WHERE EXISTS (SELECT 1 FROM rules)
ON CONFLICT (id) DO NOTHING;

DROP TABLE rules_audit;
DROP TABLE rules;

-- 3. The tenant in every key.
ALTER TABLE complainants DROP CONSTRAINT complainants_complaint_id_fkey;
ALTER TABLE timeline DROP CONSTRAINT timeline_complaint_id_fkey;
ALTER TABLE status_periods DROP CONSTRAINT status_periods_complaint_id_fkey;
ALTER TABLE complaints DROP CONSTRAINT complaints_pkey;
ALTER TABLE complaints ADD PRIMARY KEY (tenant, id);

ALTER TABLE complainants ADD COLUMN tenant text;
UPDATE complainants p SET tenant = c.tenant FROM complaints c WHERE c.id = p.complaint_id;
ALTER TABLE complainants ALTER COLUMN tenant SET NOT NULL;
ALTER TABLE complainants DROP CONSTRAINT complainants_pkey;
ALTER TABLE complainants ADD PRIMARY KEY (tenant, complaint_id);
ALTER TABLE complainants
    ADD FOREIGN KEY (tenant, complaint_id) REFERENCES complaints (tenant, id) ON DELETE CASCADE;

ALTER TABLE timeline ADD COLUMN tenant text;
UPDATE timeline t SET tenant = c.tenant FROM complaints c WHERE c.id = t.complaint_id;
ALTER TABLE timeline ALTER COLUMN tenant SET NOT NULL;
ALTER TABLE timeline DROP CONSTRAINT timeline_pkey;
ALTER TABLE timeline ADD PRIMARY KEY (tenant, id);
ALTER TABLE timeline
    ADD FOREIGN KEY (tenant, complaint_id) REFERENCES complaints (tenant, id) ON DELETE CASCADE;
DROP INDEX timeline_complaint;
CREATE INDEX timeline_complaint ON timeline (tenant, complaint_id, id);

ALTER TABLE status_periods DROP CONSTRAINT status_periods_pkey;
ALTER TABLE status_periods ADD PRIMARY KEY (tenant, id);
ALTER TABLE status_periods
    ADD FOREIGN KEY (tenant, complaint_id) REFERENCES complaints (tenant, id) ON DELETE CASCADE;
DROP INDEX status_periods_open;
CREATE UNIQUE INDEX status_periods_open ON status_periods (tenant, complaint_id) WHERE ended_at IS NULL;

ALTER TABLE deceased_audit DROP CONSTRAINT deceased_audit_pkey;
ALTER TABLE deceased_audit ADD PRIMARY KEY (tenant, id);

-- 4. Timers in their tenant.
UPDATE kit_timers t SET key = c.tenant || '/' || c.id::text
FROM complaints c
WHERE t.kind = 'sla' AND t.key = c.id::text;
