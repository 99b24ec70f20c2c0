"""The catalog's `automated` items and the registered checks must describe the same requirements."""

from controls.catalog import EvidenceMode, load_catalog
from controls.checks import ALL_CHECKS


def test_every_automated_requirement_has_a_check_and_every_check_targets_automated_ones():
    catalog = load_catalog()
    automated = {r.number for r in catalog.with_mode(EvidenceMode.AUTOMATED)}
    checked = {n for c in ALL_CHECKS for n in c.requirements}
    assert automated == checked


def test_check_ids_are_unique_and_documented():
    ids = [c.id for c in ALL_CHECKS]
    assert len(ids) == len(set(ids))
    for c in ALL_CHECKS:
        assert c.reads and c.api and c.rule_ja and c.rule_en and c.remediation_ja and c.remediation_en, c.id
