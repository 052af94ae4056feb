-- An answer knows its customer, so an erasure finds the customer's words (GDPR art. 17). Answers kept
-- before this learn it from their unhappy alert where there is one; the others had no comment that
-- reached an alert or a page by customer, and keep none of it from now on.
-- depends: 0003_answer_drill_down

ALTER TABLE answers ADD COLUMN customer_id text;
UPDATE answers a SET customer_id = al.customer_id
FROM alerts al WHERE al.tenant = a.tenant AND al.survey_id = a.survey_id AND al.customer_id IS NOT NULL;
CREATE INDEX answers_customer ON answers (tenant, customer_id) WHERE customer_id IS NOT NULL;
