-- Operator data (R8) per tenant: every version of every rule document, with who, when and why.
-- The latest version is the current document; a tenant without any reads its template (version 0).
-- The version is part of the key, so of two writers racing from the same version exactly one wins.
-- depends: kit_0004_outbox_parked

CREATE TABLE kit_rule_versions (
    tenant      text        NOT NULL,
    name        text        NOT NULL,
    version     int         NOT NULL CHECK (version >= 1),
    document    jsonb       NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    changed_by  text        NOT NULL,
    reason      text,
    PRIMARY KEY (tenant, name, version)
);
