-- R10: intake may withdraw a mistaken deceased mark (CustomerDeceasedMarkWithdrawn). Marks and
-- withdrawals arrive on two topics in no fixed order, so the latest of each is kept with its time:
-- the mark is in force while it is newer than the latest withdrawal. A withdrawal never undoes a newer
-- mark, and an older mark that arrives after its withdrawal stays undone. A withdrawal may arrive
-- before any mark, so a row may hold a withdrawal only.
-- depends: 0002_flag_clearing_four_eyes

ALTER TABLE deceased_customers
    ALTER COLUMN owner_agent_id DROP NOT NULL,
    ALTER COLUMN marked_at DROP NOT NULL,
    ADD COLUMN withdrawn_at timestamptz,
    ADD COLUMN withdrawn_by text,
    ADD CHECK ((owner_agent_id IS NULL) = (marked_at IS NULL)),
    ADD CHECK ((withdrawn_by IS NULL) = (withdrawn_at IS NULL)),
    ADD CHECK (marked_at IS NOT NULL OR withdrawn_at IS NOT NULL);
