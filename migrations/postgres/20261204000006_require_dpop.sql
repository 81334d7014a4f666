-- RFC 9449: a client whose every token request must carry a DPoP proof.
ALTER TABLE clients ADD COLUMN require_dpop BIGINT NOT NULL DEFAULT 0;
