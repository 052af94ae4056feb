-- Many contact centres on one platform. Forward only.
--
-- 1. Operator data becomes the kit's per-tenant rule documents (kit_rule_versions, created by the
--    kit's migrations, which run before the service's). The documents of the one tenant so far,
--    'demo', are carried over as its version 1; `notices` takes its new shape (the digest's period
--    as a span: seconds or business days). The organisation and the absences are not carried: they
--    are the tenant's organisation now, owned by intake and read from its snapshots.
-- 2. The tenant becomes part of the key of every table that holds a tenant's rows, so one
--    organisation's survey, complaint or alert id can never meet another's.
-- depends: 0001_alerts

INSERT INTO kit_rule_versions (tenant, name, version, document, changed_by, reason)
SELECT 'demo',
       name,
       1,
       CASE
           WHEN name = 'notices' THEN jsonb_build_object(
               'management', body -> 'management',
               'digest_every', jsonb_build_object('seconds', body -> 'digest_every_seconds'))
           ELSE body
       END,
       'migration',
       'carried over from the alerts service''s own rules (version ' || version || ' by ' || changed_by || ')'
FROM rules
WHERE name IN ('unhappy', 'threshold', 'notices', 'links', 'dashboard', 'texts')
ON CONFLICT DO NOTHING;

DROP TABLE rules_audit;
DROP TABLE rules;

ALTER TABLE alert_recipients DROP CONSTRAINT alert_recipients_alert_id_fkey;
ALTER TABLE pending_notices DROP CONSTRAINT pending_notices_alert_id_fkey;

ALTER TABLE alerts DROP CONSTRAINT alerts_pkey, ADD PRIMARY KEY (tenant, alert_id);

ALTER TABLE alert_recipients ADD COLUMN tenant text;
UPDATE alert_recipients r SET tenant = a.tenant FROM alerts a WHERE a.alert_id = r.alert_id;
ALTER TABLE alert_recipients
    ALTER COLUMN tenant SET NOT NULL,
    DROP CONSTRAINT alert_recipients_pkey,
    ADD PRIMARY KEY (tenant, alert_id, recipient_id),
    ADD FOREIGN KEY (tenant, alert_id) REFERENCES alerts (tenant, alert_id);
DROP INDEX alert_recipients_delivery;
CREATE INDEX alert_recipients_delivery ON alert_recipients (tenant, delivery_id);

ALTER TABLE pending_notices
    DROP CONSTRAINT pending_notices_pkey,
    ADD PRIMARY KEY (tenant, alert_id),
    ADD FOREIGN KEY (tenant, alert_id) REFERENCES alerts (tenant, alert_id);

ALTER TABLE answers DROP CONSTRAINT answers_pkey, ADD PRIMARY KEY (tenant, survey_id);
DROP INDEX answers_complaint;
CREATE INDEX answers_complaint ON answers (tenant, complaint_id) WHERE complaint_id IS NOT NULL;

ALTER TABLE invitations DROP CONSTRAINT invitations_pkey, ADD PRIMARY KEY (tenant, survey_id);

ALTER TABLE complaints DROP CONSTRAINT complaints_pkey, ADD PRIMARY KEY (tenant, complaint_id);
