-- R10: a deceased mark made by mistake can be withdrawn; callbacks may be requested again.
-- Marks and withdrawals arrive on two topics in no fixed order, so the latest withdrawal's time is
-- kept: a mark older than it that arrives late stays undone. ctx_customers.deceased_at is the mark in
-- force (null once withdrawn).
-- Callbacks taken out of the queue say when and why; those withdrawn because of a mark stay
-- withdrawn when the mark is, and are shown with the customer's earlier callbacks.
-- depends: 0001_callbacks

ALTER TABLE ctx_customers ADD COLUMN deceased_mark_withdrawn_at timestamptz;

ALTER TABLE callbacks
    ADD COLUMN withdrawn_at     timestamptz,
    ADD COLUMN withdrawn_reason text CHECK (withdrawn_reason IN ('customer_deceased'));

-- Until now a deceased mark was the only reason to withdraw a callback.
UPDATE callbacks SET withdrawn_at = updated_at, withdrawn_reason = 'customer_deceased'
WHERE status = 'withdrawn';
