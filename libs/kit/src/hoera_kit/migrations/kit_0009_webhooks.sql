-- Deliveries in order and deliveries on hold (hoera_kit.deliveries), for webhooks to partners:
-- - ordering_key: deliveries sharing one are sent one after the other in seq order; a delivery is not
--   claimed while an earlier one of its key is pending or failed.
-- - seq: the order deliveries were recorded in. Existing rows keep NULL (the default is set after the
--   column is added, so the table is not rewritten); every new row takes the next number.
-- - kit_delivery_holds: the references whose deliveries are not claimed (a disabled endpoint); they wait,
--   pending, until the hold is released.
-- depends: kit_0008_retention

ALTER TABLE kit_deliveries ADD COLUMN ordering_key text;
ALTER TABLE kit_deliveries ADD COLUMN seq bigint;
CREATE SEQUENCE kit_deliveries_seq OWNED BY kit_deliveries.seq;
ALTER TABLE kit_deliveries ALTER COLUMN seq SET DEFAULT nextval('kit_deliveries_seq');

-- The claim's "is an earlier delivery of this key unfinished?" probe, and a failed delivery's successors.
CREATE INDEX kit_deliveries_ordering ON kit_deliveries (ordering_key, seq)
    WHERE ordering_key IS NOT NULL AND state IN ('pending', 'failed');
-- A reference's deliveries newest first (a webhook endpoint's delivery log), and its holds.
CREATE INDEX kit_deliveries_reference_seq ON kit_deliveries (reference, seq);

CREATE TABLE kit_delivery_holds (
    reference  text        PRIMARY KEY,
    reason     text        NOT NULL,
    held_at    timestamptz NOT NULL DEFAULT now()
);
