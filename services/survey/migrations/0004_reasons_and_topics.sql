-- Closing the loop: why a customer was unhappy, and what their comment is about. The reason is one of
-- the codes the tenant's organisation defines (kept only with an unhappy satisfaction smiley); the
-- topics are the codes of the tenant's comment topics the comment's words were tagged with. Both are
-- codes, not the customer's words: an erasure blanks the comment and leaves them, as it leaves the
-- smileys. Answers given before this release have neither.
-- depends: 0003_tenants

ALTER TABLE survey_answers
    ADD COLUMN reason text,
    ADD COLUMN topics text[] NOT NULL DEFAULT '{}';
