"""Storage: all of the gateway's SQL, and the blob files on disk.

`database` opens the SQLite file, applies the numbered `migrations/` and groups commits. One
module per kind of record: `workspaces` (and tokens), `secrets`, `apps` (functions, endpoints),
`calls`, `logs`, `blob_refs`; `store.Store` holds them all for the services that use several.
`reports` are the dashboard's reads, and `blobs` the content-addressed files.
"""
