-- RFC 8693: a client that may exchange tokens it received (deny by default).
ALTER TABLE clients ADD COLUMN grant_token_exchange BIGINT NOT NULL DEFAULT 0;
-- SPEC §11: the client's token quota: NULL = tokens.default_quota, 'none',
-- or 'N/m' | 'N/h' | 'N/d'; and 'enforce' or 'monitor'.
ALTER TABLE clients ADD COLUMN quota TEXT;
ALTER TABLE clients ADD COLUMN quota_mode TEXT NOT NULL DEFAULT 'enforce';
