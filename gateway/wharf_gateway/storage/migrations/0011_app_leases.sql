-- Ephemeral apps (`wharf run`, `wharf serve`) live while their client renews a lease: one that
-- runs out (the client was killed) has its app stopped. NULL for deployed apps.
ALTER TABLE apps ADD COLUMN lease_expires_at REAL;
CREATE INDEX apps_ephemeral_lease ON apps(lease_expires_at) WHERE state = 'ephemeral';
