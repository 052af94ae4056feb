-- Closing the loop: why the customer was unhappy (a code of the tenant's reasons) and what their comment
-- is about (the codes of the tenant's comment topics the survey service tagged it with), on alerts' copy
-- of each answer, for the drill-down's filters and the dashboard's counts. Codes, not the customer's
-- words: an erasure blanks the comment and leaves them, as it leaves the smileys. An alert keeps the
-- reason it carried, and an overdue recovery case's alert the case it is about. Rows written before
-- this have neither (NULL, no topics). Forward only.
-- depends: 0004_answer_customer

ALTER TABLE answers
    ADD COLUMN reason text,
    ADD COLUMN topics text[] NOT NULL DEFAULT '{}';

ALTER TABLE alerts
    ADD COLUMN reason text,
    ADD COLUMN recovery_case_id uuid;
