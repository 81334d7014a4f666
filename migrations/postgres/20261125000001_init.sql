-- tokend schema, PostgreSQL. Times are unix seconds.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE clients (
    client_id                TEXT PRIMARY KEY,
    name                     TEXT NOT NULL,
    secret_hash              BYTEA,
    previous_secret_hash     BYTEA,
    previous_secret_until    BIGINT,
    scopes                   TEXT NOT NULL,
    default_scopes           TEXT,
    audiences                TEXT NOT NULL,
    token_ttl_secs           BIGINT,
    claims                   TEXT NOT NULL,
    auth_method              TEXT NOT NULL,
    grant_client_credentials BIGINT NOT NULL DEFAULT 1,
    jwks                     TEXT,
    enabled                  BIGINT NOT NULL DEFAULT 1,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    public_jwk     TEXT NOT NULL,
    sealed_private BYTEA,
    created_at     BIGINT NOT NULL,
    activates_at   BIGINT NOT NULL,
    revoked_at     BIGINT,
    max_ttl_secs   BIGINT NOT NULL DEFAULT 0
);

-- Change feed: every write appends a row; replicas poll it to refresh caches.
CREATE TABLE changes (
    seq     BIGSERIAL PRIMARY KEY,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX changes_at ON changes (at);
