-- What a client's live tokens may still do at tokend itself (SPEC §7):
-- tokens issued before tokens_valid_since (a secret rotated without grace)
-- are no longer honoured by /admin and /introspect; may_introspect lets a
-- client introspect tokens that do not name it (RFC 7662 §4).
ALTER TABLE clients ADD COLUMN tokens_valid_since BIGINT;
ALTER TABLE clients ADD COLUMN may_introspect BIGINT NOT NULL DEFAULT 0;
-- Whose token a revocation was, so one client cannot grow the deny list
-- without bound.
ALTER TABLE revoked_tokens ADD COLUMN client_id TEXT;
CREATE INDEX revoked_tokens_client ON revoked_tokens (client_id, expires_at);
