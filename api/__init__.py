"""The read API (`shoko serve`): the ledger's verdicts, findings, evidence, runs, drift, registers, attestations
and snapshots over HTTP for GRC tools and the dashboard, behind bearer tokens (or a signed-in session)."""
