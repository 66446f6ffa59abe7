"""Background jobs: the User Import and Export APIs' work (contract 4 and 5).

- `user_import`, `import_records`: import jobs split into tasks of 100 records, per-record outcomes.
- `user_export`, `export_records`: NDJSON/CSV exports streamed in batches of 1,000 users.
- `storage`: where export files live (local disk) and their signed download URLs.
- `runner`: RQ on Redis (`python worker.py`, see `rq_worker`), or threads without Redis.
- `maintenance`: recovery of orphaned tasks and removal of expired results and files.
- `tasks`: what the jobs share about `BackgroundTask` rows.
"""
