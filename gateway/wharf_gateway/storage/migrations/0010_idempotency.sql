-- Idempotency keys: a POST that creates calls, sent again with the same `Idempotency-Key`, gets
-- the first one's calls instead of new ones. Kept a day (`fingerprint` is the request's hash).
CREATE TABLE idempotency_keys (
    workspace_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    answer TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (workspace_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
