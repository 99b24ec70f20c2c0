"""The README's alerts example is a config that loads."""

from __future__ import annotations

from pathlib import Path

from collector.settings import load_settings


def test_the_readme_example_loads(tmp_path):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Alerts", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "agent.yaml"
    path.write_text(example, encoding="utf-8")
    s = load_settings(path, environ={})
    assert [c.type for c in s.alerts.channels] == ["webhook", "teams", "slack", "email"]
    assert len(s.alerts.routes) == 3
