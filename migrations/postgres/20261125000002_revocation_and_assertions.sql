-- RFC 7009 deny list: a revoked token's jti, kept only until the token expires.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

-- RFC 7523 client assertions already used (client id and jti), until they expire.
CREATE TABLE used_assertions (
    id         TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_assertions_expires_at ON used_assertions (expires_at);
