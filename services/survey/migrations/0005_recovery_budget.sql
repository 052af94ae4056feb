-- The survey after a callback the customer asked for spends its own kind of budget, "recovery": it
-- measures whether the customer was won back (R29), so the templates' caps on surveys do not stop it.
-- depends: 0004_reasons_and_topics

ALTER TABLE budget_spends DROP CONSTRAINT budget_spends_kind_check;
ALTER TABLE budget_spends ADD CONSTRAINT budget_spends_kind_check CHECK (kind IN ('survey', 'proactive', 'recovery'));
ALTER TABLE suppressions DROP CONSTRAINT suppressions_kind_check;
ALTER TABLE suppressions ADD CONSTRAINT suppressions_kind_check CHECK (kind IN ('survey', 'proactive', 'recovery'));
