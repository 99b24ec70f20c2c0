"""The read API and dashboard."""
