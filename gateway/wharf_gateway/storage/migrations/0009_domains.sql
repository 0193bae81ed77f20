-- Custom domains are granted to workspaces by an admin: a deploy may serve one only once it is
-- granted to its workspace, and a request for a domain reaches an endpoint only while it is.
CREATE TABLE domains (
    host TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    granted_at REAL NOT NULL
);
CREATE INDEX domains_workspace ON domains(workspace_id);

-- Workspace and app names compare case-insensitively (they become DNS labels): stored
-- lower-case from now on. A name whose lower-case form is taken keeps its case (and can only be
-- reached by its id); new names can no longer collide that way.
UPDATE workspaces SET name = lower(name)
WHERE name != lower(name)
  AND NOT EXISTS (SELECT 1 FROM workspaces AS other WHERE other.name = lower(workspaces.name));
UPDATE apps SET name = lower(name)
WHERE name != lower(name)
  AND NOT EXISTS (
      SELECT 1 FROM apps AS other
      WHERE other.workspace_id = apps.workspace_id AND other.name = lower(apps.name)
  );
