-- What the dashboard reads without touching the call path: a workspace's calls newest first, a
-- function's calls of the last hour, and each call's argument size (the payload itself is
-- dropped when the call finishes). NULL size: a call made before this migration, or a web request.
ALTER TABLE calls ADD COLUMN payload_bytes INTEGER;
CREATE INDEX calls_workspace_created ON calls(workspace_id, created_at, id);
CREATE INDEX calls_function_created ON calls(function_id, created_at)
