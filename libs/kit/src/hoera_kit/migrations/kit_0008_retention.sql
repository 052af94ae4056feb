-- Retention (a tenant's organisation document says how long): the inbox learns the tenant of each
-- event it records, so each tenant's records are purged on its own rule; rows without one (recorded
-- before, or a record too broken to name its tenant) go with the deployment's default tenant.
-- Indexes let the purge timer find what is old without reading everything.
-- depends: kit_0007_privacy

ALTER TABLE kit_inbox ADD COLUMN tenant text;
CREATE INDEX kit_inbox_age ON kit_inbox (tenant, processed_at);
CREATE INDEX kit_deliveries_age ON kit_deliveries (tenant, updated_at) WHERE state IN ('sent', 'given_up');
CREATE INDEX kit_outbox_parked_age ON kit_outbox_parked (parked_at);
