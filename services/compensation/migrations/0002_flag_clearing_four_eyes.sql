-- R15, four eyes: clearing a customer's flag takes two persons. A supervisor or an approver reviews
-- the customer and asks (reviewed_by, reviewed_at, review_note: pending while the flag is open); an
-- approver other than them confirms (confirmed_*, and the episode ends as 'reviewed') or refuses (the
-- request is taken off the flag, which stays open). flag_reviews keeps every act, refused ones too.
-- depends: 0001_compensation

ALTER TABLE customer_flags
    ADD COLUMN reviewed_at       timestamptz,
    ADD COLUMN confirmed_by      text,
    ADD COLUMN confirmed_at      timestamptz,
    ADD COLUMN confirmation_note text;

-- Until now one reviewer ended a flag alone: they stay recorded as such, with no confirmer.
UPDATE customer_flags SET reviewed_at = ended_at WHERE end_reason = 'reviewed';

-- The abuse watch reads the customer's latest episode: open, or cleared and by whom.
CREATE INDEX customer_flags_latest ON customer_flags (tenant, customer_id, flag_id);

CREATE TABLE flag_reviews (
    id          bigserial   PRIMARY KEY,
    flag_id     bigint      NOT NULL REFERENCES customer_flags,
    tenant      text        NOT NULL,
    customer_id text        NOT NULL,
    act         text        NOT NULL CHECK (act IN ('asked', 'confirmed', 'refused')),
    actor       text        NOT NULL,
    at          timestamptz NOT NULL,
    note        text        NOT NULL
);
CREATE INDEX flag_reviews_by_flag ON flag_reviews (flag_id, id);

-- While a customer is flagged, a financial proposal always goes to an approver: the rule's switch
-- can no longer be turned off, so a stored "off" is turned on (and the change audited like any other).
INSERT INTO rules_audit (what, key, action, before, after, changed_by)
SELECT 'policy', name, 'update', value, value || '{"flagged_needs_approval": true}', 'migration'
FROM policies WHERE name = 'abuse_watch' AND value -> 'flagged_needs_approval' = 'false';
UPDATE policies SET value = value || '{"flagged_needs_approval": true}'
WHERE name = 'abuse_watch' AND value -> 'flagged_needs_approval' = 'false';
