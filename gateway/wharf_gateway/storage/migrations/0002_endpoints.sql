-- Web endpoints by host label (and custom domains), so requests route without reading functions.
CREATE TABLE endpoints (
    host TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    app_id TEXT NOT NULL REFERENCES apps(id),
    function_name TEXT NOT NULL
);
CREATE INDEX endpoints_app ON endpoints(app_id);
