"""Storage: the database (all SQL, numbered migrations), blobs on disk, the dashboard's reads."""
