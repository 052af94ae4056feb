-- Tenants: the organisations this deployment serves. Intake owns them and publishes every change
-- (TenantDefined); each tenant's organisation is one of intake's rule documents (kit_rule_versions).
-- depends: 0002_deceased_audit

CREATE TABLE tenants (
    id             text        PRIMARY KEY,
    name           text        NOT NULL,
    template       text        NOT NULL CHECK (template IN ('nl', 'fr')),
    language       text        NOT NULL,
    mail_from      text        NOT NULL,
    -- Public keys of the contact-centre platforms that may publish events for the tenant.
    platform_keys  jsonb       NOT NULL DEFAULT '[]',
    active         boolean     NOT NULL DEFAULT true,
    version        int         NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     text        NOT NULL
);

-- Who changed a tenant's definition, when, from what to what.
CREATE TABLE tenant_changes (
    tenant      text        NOT NULL REFERENCES tenants (id),
    version     int         NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    changed_by  text        NOT NULL,
    before      jsonb       NOT NULL,
    after       jsonb       NOT NULL,
    PRIMARY KEY (tenant, version)
);
