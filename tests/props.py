"""Shared settings of the property-based tests and fuzzers (hypothesis): bounded so the suite stays fast.

No example database is written (the runs leave no files behind); a failure prints the example and the
`@reproduce_failure` blob to replay it, and a found crash is kept as an explicit `@example`. For a longer search,
e.g. before a release: SHOKO_PROPERTY_EXAMPLES=2000 pytest tests/controls/test_props_*.py tests/*/test_fuzz_*.py
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("SHOKO_PROPERTY_EXAMPLES", "200"))
# Rule sets, TLS values and retention documents, and the loaders fed arbitrary text, bytes and mutated documents.
PROPERTIES = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ = PROPERTIES
