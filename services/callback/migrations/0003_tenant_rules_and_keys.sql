-- Many contact centres on one platform.
--
-- 1. Operator data moves to the kit's per-tenant rule documents (kit_rule_versions): the one row of
--    callback_rules becomes version 1 of tenant demo's documents queue, priority and triggers (demo
--    was the only tenant). What the documents no longer hold comes from the tenant's organisation,
--    owned by intake: the business calendar (time zone, working days, the 2025-2027 holiday list;
--    the holidays library now knows every year) and the default team per language (the
--    organisation's teams name their language). An old lead time or wait of both business days and
--    seconds keeps its business days (a span is one or the other).
-- 2. The tenant joins the keys of callbacks and their outcomes, so every query names it.
-- 3. Timers of a callback carry its tenant in their key (tenant/callback_id).
-- depends: 0002_deceased_mark_withdrawn

INSERT INTO kit_rule_versions (tenant, name, version, document, changed_by, reason)
SELECT 'demo', 'queue', 1,
       jsonb_build_object(
           'lead_time', CASE WHEN coalesce(((body -> 'lead_time') ->> 'business_days')::int, 0) > 0
                THEN jsonb_build_object('business_days', ((body -> 'lead_time') ->> 'business_days')::int)
                ELSE jsonb_build_object('seconds', coalesce(((body -> 'lead_time') ->> 'seconds')::int, 0)) END,
           'lease_seconds', body -> 'lease_seconds',
           'retries', coalesce(
               (SELECT jsonb_agg(CASE WHEN coalesce((d ->> 'business_days')::int, 0) > 0
                THEN jsonb_build_object('business_days', (d ->> 'business_days')::int)
                ELSE jsonb_build_object('seconds', coalesce((d ->> 'seconds')::int, 0)) END ORDER BY n)
                FROM jsonb_array_elements(body -> 'retry' -> 'delays') WITH ORDINALITY AS w (d, n)),
               '[]'::jsonb)),
       'migration', format('callback_rules version %s, changed by %s', version, changed_by)
FROM callback_rules WHERE id = 1
UNION ALL
SELECT 'demo', 'priority', 1, body -> 'priority',
       'migration', format('callback_rules version %s, changed by %s', version, changed_by)
FROM callback_rules WHERE id = 1
UNION ALL
SELECT 'demo', 'triggers', 1,
       coalesce(body -> 'complaint_triggers', '{}'::jsonb)
           || jsonb_build_object('unhappy_smiley_callback', coalesce(body -> 'unhappy_smiley_callback', 'false')),
       'migration', format('callback_rules version %s, changed by %s', version, changed_by)
FROM callback_rules WHERE id = 1;

DROP TABLE callback_rules_audit;
DROP TABLE callback_rules;

ALTER TABLE callback_outcomes DROP CONSTRAINT callback_outcomes_callback_id_fkey;
ALTER TABLE callback_outcomes DROP CONSTRAINT callback_outcomes_pkey;
ALTER TABLE callbacks DROP CONSTRAINT callbacks_pkey;
ALTER TABLE callbacks ADD PRIMARY KEY (tenant, callback_id);
ALTER TABLE callback_outcomes ADD PRIMARY KEY (tenant, callback_id, attempt);
ALTER TABLE callback_outcomes
    ADD FOREIGN KEY (tenant, callback_id) REFERENCES callbacks (tenant, callback_id);

UPDATE kit_timers t SET key = c.tenant || '/' || c.callback_id::text
FROM callbacks c
WHERE t.kind IN ('callback.lead_time', 'callback.retry') AND t.key = c.callback_id::text;
