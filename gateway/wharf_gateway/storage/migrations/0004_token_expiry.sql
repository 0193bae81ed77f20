-- Tokens may expire: NULL never does.
ALTER TABLE tokens ADD COLUMN expires_at REAL
