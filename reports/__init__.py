"""Auditor outputs read from the ledger: signed snapshot bundles and the reports inside them."""
