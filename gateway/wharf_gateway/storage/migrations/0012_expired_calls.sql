-- Calls whose results expired, by when: their records go one retention period later.
CREATE INDEX calls_expired ON calls(expires_at) WHERE expired = 1;
