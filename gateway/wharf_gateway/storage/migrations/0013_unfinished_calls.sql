-- The unfinished calls of one pool in order of arrival (rowid): how parked calls, and those a
-- restart finds, are paged in.
CREATE INDEX calls_unfinished ON calls(function_id, variant) WHERE status IN ('pending', 'running');
