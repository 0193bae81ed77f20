-- Workspaces, tokens, apps and their functions, calls with their results, and logs.
CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    secret_sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
);

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    deployed_at REAL NOT NULL
);
CREATE UNIQUE INDEX apps_deployed_name ON apps(workspace_id, name) WHERE state = 'deployed';

CREATE TABLE functions (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id),
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    bundle_sha256 TEXT NOT NULL,
    module TEXT NOT NULL,
    app_variable TEXT NOT NULL,
    definition TEXT NOT NULL,
    UNIQUE (app_id, version, name)
);

CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    function_id TEXT NOT NULL REFERENCES functions(id),
    parent_call_id TEXT,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    payload_format TEXT NOT NULL,
    payload BLOB,
    payload_sha256 TEXT,
    wants_json INTEGER NOT NULL,
    wants_pickle INTEGER NOT NULL,
    created_at REAL NOT NULL,
    finished_at REAL,
    expires_at REAL,
    expired INTEGER NOT NULL DEFAULT 0,
    output_pickled BLOB,
    output_pickled_sha256 TEXT,
    output_json BLOB,
    output_json_sha256 TEXT,
    json_error TEXT,
    error TEXT
);
CREATE INDEX calls_active ON calls(status) WHERE status IN ('pending', 'running');
CREATE INDEX calls_expiring ON calls(expires_at) WHERE expired = 0;
CREATE INDEX calls_parent ON calls(parent_call_id) WHERE parent_call_id IS NOT NULL;

CREATE TABLE logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL,
    function_name TEXT NOT NULL,
    container_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    line TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX logs_app ON logs(app_id, id);
