"""Drift between runs, and the alerts that tell people about it."""
