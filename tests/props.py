"""Shared settings of the property-based tests and fuzzers (hypothesis): bounded so the suite stays fast.

No example database is written (the runs leave no files behind); a failure prints the example and the
`@reproduce_failure` blob to replay it, and a found crash is kept as an explicit `@example`."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Rule sets, TLS values and retention documents: cheap to judge.
PROPERTIES = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
# Loaders fed arbitrary text and bytes (YAML parsing, the Settings model): somewhat dearer per example.
FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
