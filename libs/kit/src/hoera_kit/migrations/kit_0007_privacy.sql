-- A customer's erasure (GDPR art. 17). A delivery knows which customer it is about, so erasure can blank
-- its recipient and body; kit_erasures is the audit of each erasure this service carried out: ids and
-- counts only, never what was erased. It also tells a late event that its customer is gone.
-- depends: kit_0006_delivery_sender

ALTER TABLE kit_deliveries ADD COLUMN customer_id text;
CREATE INDEX kit_deliveries_customer ON kit_deliveries (tenant, customer_id) WHERE customer_id IS NOT NULL;

CREATE TABLE kit_erasures (
    tenant       text        NOT NULL,
    erasure_id   uuid        NOT NULL,
    customer_id  text        NOT NULL,
    requested_by text        NOT NULL,
    erased_at    timestamptz NOT NULL,
    records      jsonb       NOT NULL,
    PRIMARY KEY (tenant, erasure_id)
);
CREATE INDEX kit_erasures_customer ON kit_erasures (tenant, customer_id);
