-- Security events: who changed which client or key, and repeated
-- authentication failures. Token issuance is counted in metrics, not here.
CREATE TABLE audit_events (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
