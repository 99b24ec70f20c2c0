"""The append-only evidence ledger: `storage.ledger.Ledger` is the entry point.

Blobs are content-addressed by the SHA-256 of their canonical JSON; each run's rows carry a row hash;
a sealed run stores a digest over its metadata and row hashes, chained to the previous sealed run.
"""
