"""The `shoko` command end to end: demo, collect from a sandbox info file, status, verify, bad input."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from collector.cli import main
from sandbox.server import Sandbox
from storage.ledger import Ledger
from tests.collector.conftest import EMR, SECRET


def test_demo_prints_every_requirement_and_a_summary(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/demo.db"
    assert main(["demo", "--database", url, "--lang", "en"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if re.match(r"^\s*\d{1,3}  ", line)]
    assert [int(r.split()[0]) for r in rows] == list(range(1, 183))
    assert re.search(
        r"182 requirements: 1 pass, 39 fail, 8 partial, 81 manual, 6 attested, 2 expired, 32 inherited, "
        r"13 not_applicable — checks decide 0 fully, 44 partly, support 6 manual",
        out,
    )
    nsg_row = next(r for r in rows if r.split()[0] == "87")
    assert "FAIL" in nsg_row and "3389" in nsg_row and "partial" in nsg_row
    # No 145 is covered in part; the broad custom role EMR Operator fails it.
    roles_row = next(r for r in rows if r.split()[0] == "145")
    assert "FAIL" in roles_row and "partial" in roles_row and "EMR Operator" in roles_row
    # No 113's checks all pass but cover it in part; the example attestation (no compilers on production)
    # covers the rest, so it passes. No 118 has an attestation too, but a failing check outweighs it.
    partial_row = next(r for r in rows if r.split()[0] == "113")
    assert "pass" in partial_row and "partial" in partial_row and "covered by attestation ATT-DEMO-006" in partial_row
    assert "FAIL" in next(r for r in rows if r.split()[0] == "118")
    # The example sheet: valid attestations, and one that lapsed.
    assert "attested" in next(r for r in rows if r.split()[0] == "1") and "ATT-DEMO-001" in out
    assert "EXPIRED" in next(r for r in rows if r.split()[0] == "182")
    assert url in out


def test_the_client_secret_reaches_neither_logs_nor_the_database(collected, capsys):
    files = list(collected.parent.glob(collected.name + "*"))  # with any -wal / -shm file
    assert collected in files
    assert all(SECRET.encode() not in f.read_bytes() for f in files)
    assert SECRET not in capsys.readouterr().out


def test_collect_then_status_json(collected, capsys):
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run"]["status"] == "completed" and len(data["run"]["digest"]) == 64
    rows = {r["no"]: r for r in data["requirements"]}
    assert sorted(rows) == list(range(1, 183))
    assert rows[123]["status"] == "fail" and "failed" in rows[123]["reason_en"]
    assert main(["explain", "123", "--json"]) == 0
    failing = [f["reason_en"] for f in json.loads(capsys.readouterr().out)["findings"] if f["status"] == "fail"]
    assert any("stemrdevje minimumTlsVersion is TLS1_0" in reason for reason in failing)
    assert rows[145]["status"] == "fail" and rows[145]["coverage"] == "partial" and rows[145]["coverage_en"]
    assert rows[132]["status"] == "fail" and rows[132]["coverage"] == "partial" and rows[132]["title_ja"]
    assert rows[97]["status"] == "fail" and rows[97]["coverage"] == "supporting" and rows[97]["title_ja"]
    assert rows[99]["status"] == "not_applicable"


def test_verify_passes_then_names_the_edited_row(collected, capsys):
    assert main(["verify"]) == 0
    assert "hash chain intact" in capsys.readouterr().out
    with sqlite3.connect(collected) as db:
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            db.execute(f'DROP TRIGGER "{name}"')
        (row_id,) = db.execute("SELECT id FROM verdicts WHERE requirement = 86").fetchone()
        db.execute("UPDATE verdicts SET status = 'pass' WHERE id = ?", (row_id,))
    assert main(["verify"]) == 1
    err = capsys.readouterr().err
    assert "verdicts" in err and f"row {row_id}" in err and "\n" not in err.strip()


def test_bad_config_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "agent.yaml"
    bad.write_text("thresholds:\n  flow_log_retention_days: -3\n", encoding="utf-8")
    assert main(["collect", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "thresholds.flow_log_retention_days" in err and str(bad) in err and "\n" not in err


def test_missing_sandbox_info_exits_2(tmp_path, capsys):
    assert main(["collect", "--sandbox-info", str(tmp_path / "nope.json")]) == 2
    assert "sandbox info file not found" in capsys.readouterr().err


def test_status_without_runs_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    assert main(["status"]) == 2  # no ledger at that path: bad input
    assert "no completed run yet" in capsys.readouterr().err
    Ledger(f"sqlite:///{tmp_path}/empty.db").close()  # a ledger with no run yet
    assert main(["status"]) == 1
    assert "no completed full run yet" in capsys.readouterr().err


def test_checks_reference_lists_every_registered_check(capsys):
    from controls.checks import ALL_CHECKS

    assert main(["checks", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in listed] == [c.id for c in ALL_CHECKS]
    nsg = next(c for c in listed if c["id"] == "nsg-no-internet-management-ports")
    assert nsg["requirements"] == [
        {"no": 86, "coverage": "partial"},
        {"no": 87, "coverage": "partial"},
        {"no": 148, "coverage": "partial"},
    ]
    assert "exposed_ports" in nsg["thresholds"] and nsg["judges"] == ["microsoft.network/networksecuritygroups"]


def test_explain_traces_a_verdict_to_its_findings_and_evidence(collected, capsys):
    capsys.readouterr()
    assert main(["explain", "87", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["no"] == 87 and data["status"] == "fail"
    first = data["findings"][0]  # failures come first
    assert first["status"] == "fail" and first["resource_id"].endswith("/nsg-emr-prod-mgmt")
    (ev,) = first["evidence"]
    assert ev["resource_id"] == first["resource_id"] and ev["request_id"] and ev["api_version"] == "2026-03-01"
    with sqlite3.connect(collected) as db:
        (content,) = db.execute("SELECT content FROM evidence_blobs WHERE sha256 = ?", (ev["sha256"],)).fetchone()
    assert "AllowRdpInbound" in content
    assert main(["explain", "87"]) == 0
    assert "evidence " in capsys.readouterr().out


def test_explain_shows_the_counts_and_the_first_50_findings_of_many(collected, capsys):
    """No 37 holds more findings than explain prints by default: the counts per status, the first 50 failures
    first and how to see the rest; --all and --json give every finding, in the same order."""
    capsys.readouterr()
    assert main(["explain", "37", "--json"]) == 0
    every = json.loads(capsys.readouterr().out)["findings"]
    assert len(every) > 50
    counts: dict[str, int] = {}
    for f in every:
        counts[f["status"]] = counts.get(f["status"], 0) + 1
    assert main(["explain", "37"]) == 0
    out = capsys.readouterr().out
    labels = {"fail": "FAIL 不適合", "error": "ERROR 取得不可", "pass": "pass 適合"}
    shown_counts = "  ".join(f"{labels[s]} {counts[s]:,}" for s in ("fail", "error", "pass") if s in counts)
    assert f"findings: {len(every):,}  ({shown_counts})" in out
    assert f"showing 50 of {len(every):,} findings (failures first); --all for every finding / 全件は --all" in out
    listed = re.findall(r"^  \S+ \S+  (\S+)  (\S+)$", out, re.M)
    assert listed == [(f["check"], f["resource_id"]) for f in every[:50]]
    assert main(["explain", "37", "--all"]) == 0
    out = capsys.readouterr().out
    assert f"findings: {len(every)}\n" in out and "showing" not in out
    assert re.findall(r"^  \S+ \S+  (\S+)  (\S+)$", out, re.M) == [(f["check"], f["resource_id"]) for f in every]


def test_explain_unknown_requirement_or_run(collected, capsys):
    assert main(["explain", "183"]) == 2
    assert "no requirement No 183" in capsys.readouterr().err
    assert main(["explain", "87", "--run", "99"]) == 1
    assert "run 99" in capsys.readouterr().err


def test_verify_with_a_noted_digest_catches_a_removed_latest_run(collected, capsys):
    capsys.readouterr()
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    digest = re.search(r"latest run 1 digest ([0-9a-f]{64})", out).group(1)
    assert "unsigned" not in out  # run signing was never configured here: nothing to say about it
    assert main(["verify", "--expect-digest", digest]) == 0
    with sqlite3.connect(collected) as db:  # someone with database rights removes the whole run
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            db.execute(f'DROP TRIGGER "{name}"')
        for table in ("verdicts", "findings", "collection_errors", "run_evidence", "runs"):
            column = "id" if table == "runs" else "run_id"
            db.execute(f"DELETE FROM {table} WHERE {column} = 1")
    assert main(["verify"]) == 2  # an emptied chain vouches for nothing ...
    assert "no sealed run in" in capsys.readouterr().err
    assert main(["verify", "--expect-digest", digest]) == 1  # ... and the noted run is gone
    assert f"no run with digest {digest}" in capsys.readouterr().err


def test_status_shows_the_latest_full_run_and_names_newer_partial_runs(collected, capsys):
    from collector.pipeline import run_once
    from collector.settings import load_settings, sandbox_overrides
    from controls.catalog import load_catalog
    from storage.ledger import Ledger

    with Sandbox.from_file(EMR) as sb, Ledger(f"sqlite:///{collected}") as ledger:
        settings = load_settings(None, environ={}, overrides=sandbox_overrides(sb.info.to_dict()))
        partial = run_once(settings, ledger, load_catalog(), kinds={"network_security_group", "virtual_network"}).run
    capsys.readouterr()
    assert main(["status", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^182 requirements: ", out, re.M)  # the full run's table, not the partial one's
    assert f"newer partial run {partial.id} (network_security_group, virtual_network) completed" in out
    assert main(["status", "--run", str(partial.id), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run"]["kind"] == "partial" and data["run"]["kinds"] == ["network_security_group", "virtual_network"]
    assert sorted(r["no"] for r in data["requirements"]) == [67, 87]
    # explain, like status, answers from the latest full run: No 123 has no verdict in the partial run.
    assert main(["explain", "123", "--json"]) == 0
    explained = json.loads(capsys.readouterr().out)
    assert explained["run"]["id"] != partial.id and explained["status"] == "fail"


def test_after_the_demo_read_commands_find_its_database_without_settings(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("SHOKO_DATABASE_URL", "SHOKO_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    assert main(["demo", "--lang", "en"]) == 0
    capsys.readouterr()
    assert main(["status", "--lang", "en"]) == 0
    captured = capsys.readouterr()
    assert "182 requirements: 1 pass, 39 fail, 8 partial, 81 manual, 6 attested, 2 expired" in captured.out
    assert "reading the demo's shoko-data/demo.db" in captured.err
    assert main(["explain", "86"]) == 0 and "nsg-emr-prod-mgmt" in capsys.readouterr().out
    assert main(["verify"]) == 0 and "hash chain intact" in capsys.readouterr().out
    assert not (tmp_path / "shoko-data" / "shoko.db").exists()  # no empty ledger of its own was made
    # A configured database is never swapped for the demo's.
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{tmp_path}/mine.db")
    assert main(["status"]) == 2 and "no ledger database" in capsys.readouterr().err


def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    binary = tmp_path / "config.yaml"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xd0\xff\xfe")
    assert main(["status", "--config", str(binary)]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"shoko: config error: {binary}: not a UTF-8 text file (byte 8): not a config file"
    )
    for argv in (["status", "--run", "99999999999999999999"], ["explain", "86", "--run", "0"], ["drift", "--run", "x"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2, argv
        assert "is not a run id" in capsys.readouterr().err


def test_a_closed_pipe_and_ctrl_c_are_one_line(monkeypatch, capsys):
    import collector.cli as cli

    def closed(args):
        raise BrokenPipeError

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_checks", closed)
    assert main(["checks"]) == 2
    assert capsys.readouterr().err.strip() == "shoko: output closed early (broken pipe): the rest was not written"
    monkeypatch.setattr(cli, "cmd_checks", interrupted)
    assert main(["checks"]) == 130
    assert capsys.readouterr().err.strip() == "shoko: interrupted (Ctrl-C)"


def test_verify_with_a_checkpoint_file_checks_only_later_runs(collected, tmp_path, capsys):
    checkpoint = tmp_path / "verify" / "checkpoint.json"
    assert main(["verify", "--checkpoint", str(checkpoint)]) == 0  # no file yet: a full pass that writes it
    out = capsys.readouterr().out
    saved = json.loads(checkpoint.read_text(encoding="utf-8"))
    assert saved["format"] == "shoko-verify-checkpoint/1" and "ok: 1 run(s) verified" in out
    assert f"checkpoint / チェックポイント: run {saved['run_id']} (chain position 1)" in out

    assert main(["verify", "--checkpoint", str(checkpoint)]) == 0
    assert f"ok: 0 run(s) after checkpoint run {saved['run_id']} (chain position 1)" in capsys.readouterr().out

    checkpoint.write_text(json.dumps({**saved, "digest": "0" * 64}), encoding="utf-8")
    assert main(["verify", "--checkpoint", str(checkpoint)]) == 1
    assert "TAMPERED" in capsys.readouterr().err and json.loads(checkpoint.read_text())["digest"] == "0" * 64

    checkpoint.write_text("not json", encoding="utf-8")
    assert main(["verify", "--checkpoint", str(checkpoint)]) == 2
    assert f"checkpoint {checkpoint} is not JSON" in capsys.readouterr().err
