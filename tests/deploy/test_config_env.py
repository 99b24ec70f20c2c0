"""SHOKO_CONFIG names the config file when --config is not given (the image sets it to /etc/shoko/agent.yaml)."""

from __future__ import annotations

from collector.cli import main


def test_shoko_config_is_read_and_an_explicit_config_wins(tmp_path, monkeypatch, capsys):
    from_env = tmp_path / "from-env.yaml"
    from_env.write_text("agent:\n  schedule: every often\n", encoding="utf-8")
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("collection:\n  max_workers: 0\n", encoding="utf-8")
    monkeypatch.setenv("SHOKO_CONFIG", str(from_env))
    # Both files are invalid, so nothing is collected: the error line says which file was read.
    assert main(["collect"]) == 2
    err = capsys.readouterr().err.strip()
    assert str(from_env) in err and "agent.schedule" in err and "\n" not in err
    assert main(["collect", "--config", str(explicit)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(explicit) in err and "collection.max_workers" in err and str(from_env) not in err


def test_an_empty_shoko_config_means_no_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHOKO_CONFIG", "")
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{tmp_path}/none.db")
    monkeypatch.setenv("SHOKO_AGENT_SCHEDULE", "every often")
    assert main(["collect"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("shoko: config error: config: key 'agent.schedule'")
