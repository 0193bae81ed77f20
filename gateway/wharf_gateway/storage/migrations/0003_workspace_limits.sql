-- Per-workspace rate limits. NULL keeps the defaults (--rate-limit-per-s and --rate-burst-s).
ALTER TABLE workspaces ADD COLUMN rate_limit_per_s REAL;
ALTER TABLE workspaces ADD COLUMN rate_burst_s REAL
