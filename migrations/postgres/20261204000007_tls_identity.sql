-- RFC 8705: what a tls_client_auth / self_signed_tls_client_auth client's
-- certificate must show, as JSON ({"subject_dn": ...}, {"san_uri": ...},
-- {"san_dns": ...} or {"certificate_sha256": ...}).
ALTER TABLE clients ADD COLUMN tls_identity TEXT;
