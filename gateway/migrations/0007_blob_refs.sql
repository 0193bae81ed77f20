-- Which workspace may read which content-addressed payload file: a blob is stored once, and
-- a workspace gets a row once it has sent (or produced) the bytes itself.
CREATE TABLE blob_refs (
    workspace_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (workspace_id, sha256)
) WITHOUT ROWID;
