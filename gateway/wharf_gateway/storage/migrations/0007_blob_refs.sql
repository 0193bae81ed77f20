-- Which workspace may read which content-addressed payload file: a blob is stored once, and
-- a workspace gets a row once it has sent (or produced) the bytes itself. `used_at` is when it
-- last sent or named them; rows unused for the result retention are dropped, and then files no
-- row, call or function names.
CREATE TABLE blob_refs (
    workspace_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    used_at REAL NOT NULL,
    PRIMARY KEY (workspace_id, sha256)
) WITHOUT ROWID;
