-- Many contact centres on one platform: every row of tenant data is keyed by its tenant, the operator's
-- rules become the kit's per-tenant rule documents, and the survey links get per-tenant signing keys.
-- depends: 0002_deceased_mark_withdrawn

-- R8: today's rule data becomes version 1 of tenant demo's documents (the only tenant so far). The
-- triggers' link validity in days becomes the same span in seconds (the kit's Span), so nothing a
-- customer sees changes; a tenant without a row reads its template.
INSERT INTO kit_rule_versions (tenant, name, version, document, changed_by, reason)
SELECT 'demo',
       r.name,
       1,
       CASE
           WHEN r.name = 'triggers' THEN (
               SELECT jsonb_object_agg(
                          t.key,
                          (t.value - 'expiry_days')
                          || jsonb_build_object(
                                 'link_valid_for',
                                 jsonb_build_object(
                                     'seconds', coalesce((t.value ->> 'expiry_days')::int, 7) * 86400
                                 )
                             )
                      )
               FROM jsonb_each(r.document) AS t
           )
           ELSE r.document
       END,
       'migration',
       format('carried over from survey_rules version %s (changed by %s)', r.version, r.changed_by)
FROM survey_rules AS r
WHERE r.name IN ('caps', 'triggers', 'texts')
ON CONFLICT DO NOTHING;

DROP TABLE survey_rules_audit;
DROP TABLE survey_rules;

-- The tenant in every key: a query that forgets it finds nothing rather than another tenant's row.
ALTER TABLE survey_answers ADD COLUMN tenant text;
UPDATE survey_answers AS a SET tenant = s.tenant FROM surveys AS s WHERE s.survey_id = a.survey_id;
ALTER TABLE survey_answers ALTER COLUMN tenant SET NOT NULL;
ALTER TABLE survey_answers DROP CONSTRAINT survey_answers_survey_id_fkey;
ALTER TABLE survey_answers DROP CONSTRAINT survey_answers_pkey;
ALTER TABLE surveys DROP CONSTRAINT surveys_pkey;
ALTER TABLE surveys ADD PRIMARY KEY (tenant, survey_id);
ALTER TABLE survey_answers ADD PRIMARY KEY (tenant, survey_id);
ALTER TABLE survey_answers ADD FOREIGN KEY (tenant, survey_id) REFERENCES surveys (tenant, survey_id);
DROP INDEX surveys_invited;
CREATE INDEX surveys_invited ON surveys (tenant, invited_at) WHERE invited_at IS NOT NULL;

ALTER TABLE budget_spends DROP CONSTRAINT budget_spends_pkey;
ALTER TABLE budget_spends ADD PRIMARY KEY (tenant, id);

ALTER TABLE suppressions DROP CONSTRAINT suppressions_pkey;
ALTER TABLE suppressions ADD PRIMARY KEY (tenant, id);
DROP INDEX suppressions_by_time;
CREATE INDEX suppressions_by_time ON suppressions (tenant, suppressed_at);

ALTER TABLE deceased_mark_history DROP CONSTRAINT deceased_mark_history_pkey;
ALTER TABLE deceased_mark_history ADD PRIMARY KEY (tenant, id);

-- Waiting invitations' timers name their tenant too (the timer's key is <tenant>/<survey id>).
UPDATE kit_timers AS t
SET key = s.tenant || '/' || t.key
FROM surveys AS s
WHERE t.kind = 'survey.invite' AND t.key = s.survey_id::text;

-- The survey links' signing keys, per tenant: made on first need, rotated by an administrator. The
-- newest signs; it and the one before it verify (links signed before a rotation keep working); an
-- older one is retired: its secret is destroyed, its id stays so the history reads whole.
CREATE TABLE link_keys (
    tenant      text        NOT NULL,
    generation  int         NOT NULL CHECK (generation >= 1),
    -- In every link: names the key (and so the tenant) that signed it; random, so it tells nothing.
    key_id      text        NOT NULL UNIQUE,
    secret      bytea       CHECK (secret IS NULL OR octet_length(secret) >= 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text        NOT NULL,
    retired_at  timestamptz,
    PRIMARY KEY (tenant, generation),
    CHECK ((secret IS NULL) = (retired_at IS NOT NULL))
);
