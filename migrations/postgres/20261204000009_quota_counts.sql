-- SPEC §11: tokens issued per client and quota window, summed over every
-- replica (each adds what it issued since its last sync, about once a second).
CREATE TABLE quota_counts (
    client_id TEXT NOT NULL,
    window_secs BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (client_id, window_secs, window_start)
);
CREATE INDEX quota_counts_expires_at ON quota_counts (expires_at);
