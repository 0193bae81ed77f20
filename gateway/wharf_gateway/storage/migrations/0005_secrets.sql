-- Secrets of workspaces: values sealed with AES-GCM (gateway/secrets.py), keys in the clear.
-- Inline secrets (Secret.from_dict) are named '@' plus a keyed digest and are not listed.
CREATE TABLE secrets (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    inline INTEGER NOT NULL DEFAULT 0,
    keys TEXT NOT NULL,
    sealed BLOB NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (workspace_id, name)
)
