-- The sender of a delivery: mail goes out in the name of the tenant it is for (its mail_from); null: the
-- deployment's HOERA_MAIL_FROM.
-- depends: kit_0005_rules

ALTER TABLE kit_deliveries ADD COLUMN sender text;
