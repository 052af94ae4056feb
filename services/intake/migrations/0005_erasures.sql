-- A customer's erasure requests (GDPR art. 17): intake takes them and follows each service's
-- confirmation until all five have erased. Ids and counts only: nothing erased is kept here.
-- depends: 0004_tenant_rules_and_keys

CREATE TABLE erasures (
    tenant        text        NOT NULL,
    erasure_id    uuid        NOT NULL,
    customer_id   text        NOT NULL,
    requested_by  text        NOT NULL,
    requested_at  timestamptz NOT NULL,
    completed_at  timestamptz,
    PRIMARY KEY (tenant, erasure_id)
);
CREATE INDEX erasures_customer ON erasures (tenant, customer_id, requested_at);
-- At most one open request per customer: a second ask resumes the first.
CREATE UNIQUE INDEX erasures_one_open ON erasures (tenant, customer_id) WHERE completed_at IS NULL;

CREATE TABLE erasure_confirmations (
    tenant        text        NOT NULL,
    erasure_id    uuid        NOT NULL,
    service       text        NOT NULL,
    confirmed_at  timestamptz NOT NULL,
    records       jsonb       NOT NULL,
    PRIMARY KEY (tenant, erasure_id, service),
    FOREIGN KEY (tenant, erasure_id) REFERENCES erasures (tenant, erasure_id)
);
