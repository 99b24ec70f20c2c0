"""A run collected with settings weaker than the shipped defaults says so in status, explain and its snapshot,
with the values it judged with, whatever the config says later."""

from __future__ import annotations

import json
import zipfile

from collector.cli import main
from sandbox.server import Sandbox
from tests.collector.conftest import EMR

WEAK = """\
thresholds:
  privileged_roles: []
  log_analytics_retention_days: 30
  allowed_regions: [japaneast, japanwest, eastus]
  global_admin_max: 10
guideline:
  profile: meti2012
"""
FLAGGED = [
    "guideline.profile",
    "thresholds.log_analytics_retention_days",
    "thresholds.privileged_roles",
    "thresholds.allowed_regions",
    "thresholds.global_admin_max",
]


def test_weakened_settings_are_flagged_from_the_run_in_status_explain_and_the_snapshot(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{tmp_path / 'shoko.db'}")
    config = tmp_path / "agent.yaml"
    config.write_text(WEAK, encoding="utf-8")
    with Sandbox.from_file(EMR) as sb:
        info = tmp_path / "sandbox.json"
        info.write_text(json.dumps(sb.info.to_dict()), encoding="utf-8")
        assert main(["collect", "--sandbox-info", str(info), "--config", str(config)]) == 0
    assert sum(line.startswith("WEAKER THAN DEFAULT") for line in capsys.readouterr().out.splitlines()) == len(FLAGGED)
    # Today's config is the shipped default again: the views still show what the run judged with.
    config.write_text("", encoding="utf-8")

    assert main(["status", "--json", "--config", str(config)]) == 0
    run = json.loads(capsys.readouterr().out)["run"]
    assert [w["key"] for w in run["settings_weaker_than_default"]] == FLAGGED
    assert run["thresholds"]["global_admin_max"] == 10 and run["thresholds"]["privileged_roles"] == []

    assert main(["status", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    flagged = [line for line in out.splitlines() if line.startswith("WEAKER THAN DEFAULT")]
    assert len(flagged) == len(FLAGGED)
    assert any("thresholds.allowed_regions" in line and "adds eastus" in line for line in flagged)

    assert main(["explain", "145", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "thresholds judged with 判定に用いた閾値 (recorded by run 1):" in out
    assert "    global_admin_max = 10  WEAKER THAN DEFAULT" in out and "10 (higher than the default 4)" in out
    assert "    global_admin_min = 2\n" in out
    assert "    privileged_roles = []  WEAKER THAN DEFAULT" in out
    assert "guideline.profile: meti2012" in out
    assert main(["explain", "145", "--json", "--config", str(config)]) == 0
    data = json.loads(capsys.readouterr().out)
    by_check = {c["check"]: {t["name"]: t for t in c["thresholds"]} for c in data["thresholds"]}
    assert by_check["global-admin-count"]["global_admin_max"]["value"] == 10
    assert by_check["privileged-role-assignments-max"]["privileged_role_max"]["weaker"] is None

    keys = tmp_path / "keys"
    assert main(["keys", "create", "--out", str(keys)]) == 0
    bundle = tmp_path / "snapshot.zip"
    assert main(["snapshot", "export", "--out", str(bundle), "--key", str(keys / "shoko-signing.key")]) == 0
    with zipfile.ZipFile(bundle) as z:
        manifest = json.loads(z.read("manifest.json"))
        html = z.read("report.html").decode()
    assert [w["key"] for w in manifest["settings_weaker_than_default"]] == FLAGGED
    assert manifest["thresholds"]["log_analytics_retention_days"] == 30
    assert "Settings weaker than default" in html or "既定より緩い設定" in html
    assert "thresholds.log_analytics_retention_days: 30（既定 365 より低い） / 30 (lower than the default 365)" in html
