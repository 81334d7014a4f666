-- What a client's live tokens may still do at tokend itself (SPEC §7):
-- tokens issued before tokens_valid_since (a secret rotated without grace)
-- are no longer honoured by /admin and /introspect; may_introspect lets a
-- client introspect tokens that do not name it (RFC 7662 §4).
ALTER TABLE clients ADD COLUMN tokens_valid_since BIGINT;
ALTER TABLE clients ADD COLUMN may_introspect BIGINT NOT NULL DEFAULT 0;
