-- Workload identity federation (SPEC §8). A trust provider's settings are one
-- JSON document (domain::TrustProvider); its issuer is unique, because a
-- token's `iss` picks its provider. Bindings say which workloads (subject
-- pattern and claim patterns, JSON) become which client; they go with their
-- client or provider.
CREATE TABLE trust_providers (
    name       TEXT PRIMARY KEY,
    issuer     TEXT NOT NULL UNIQUE,
    config     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE client_bindings (
    client_id  TEXT NOT NULL,
    provider   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    claims     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, provider, subject)
);
CREATE INDEX client_bindings_provider ON client_bindings (provider);
