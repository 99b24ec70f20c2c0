"""scripts/dependency-audit judges a pip-audit JSON report: a vulnerability with a fix fails, one without a fix is
listed, and a package the advisory service did not answer for is NOT AUDITED, never clean (and fails only when
SHOKO_AUDIT_REQUIRED=1). The reports here have pip-audit's shape; the audit of the real environment runs in
`make test`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dependency-audit"

CLEAN = {"name": "jinja2", "version": "3.1.6", "vulns": []}
FIXABLE = {"name": "jinja2", "version": "3.1.2", "vulns": [
    {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": ["CVE-2024-22195"]}]}  # fmt: skip
UNFIXED = {"name": "ecdsa", "version": "0.19.1", "vulns": [
    {"id": "GHSA-wj6h-64fc-37mp", "fix_versions": [], "aliases": ["CVE-2024-23342"]}]}  # fmt: skip
UNAUDITED = {"name": "aiohappyeyeballs", "skip_reason": "Dependency not found on PyPI and could not be audited"}


def audit(tmp_path: Path, *dependencies: dict, required: bool = False) -> tuple[int, list[str]]:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"dependencies": list(dependencies), "fixes": []}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "SHOKO_AUDIT_REQUIRED"}
    if required:
        env["SHOKO_AUDIT_REQUIRED"] = "1"
    run = subprocess.run([sys.executable, str(SCRIPT), "--report", str(report)], capture_output=True, text=True,
                         env=env, check=False, timeout=60)  # fmt: skip
    return run.returncode, run.stdout.splitlines()


def test_a_vulnerability_with_a_fix_fails_naming_package_advisory_and_fix(tmp_path):
    code, lines = audit(tmp_path, CLEAN, FIXABLE)
    assert code == 1
    assert lines == [
        "dependency audit: VULNERABLE jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (CVE-2024-22195), fixed in 3.1.3: "
        "bump the pin in constraints.txt"
    ]


def test_a_vulnerability_without_a_fix_is_listed_and_does_not_fail(tmp_path):
    code, lines = audit(tmp_path, CLEAN, UNFIXED)
    assert code == 0
    assert lines == [
        "dependency audit: known vulnerability ecdsa 0.19.1: GHSA-wj6h-64fc-37mp (CVE-2024-23342), no fixed "
        "release yet",
        "dependency audit: 2 packages audited, no known vulnerability with a fix",
    ]


def test_packages_not_audited_are_never_reported_clean(tmp_path):
    code, lines = audit(tmp_path, CLEAN, UNAUDITED)
    assert code == 0 and len(lines) == 1
    assert lines[0].startswith("dependency audit: NOT AUDITED 1 of 2 packages") and "aiohappyeyeballs" in lines[0]
    code, lines = audit(tmp_path, CLEAN, UNAUDITED, required=True)
    assert code == 1 and lines[-1].startswith("dependency audit: FAILED: SHOKO_AUDIT_REQUIRED=1")


def test_a_clean_report_says_how_many_were_audited(tmp_path):
    assert audit(tmp_path, CLEAN) == (0, ["dependency audit: 1 packages audited, no known vulnerability with a fix"])
