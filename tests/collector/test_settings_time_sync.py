"""Time synchronisation settings: the thresholds and the opt-in Run Command read, loaded and validated."""

import pytest

from collector.settings import ConfigError, load_settings


def write(tmp_path, text: str):
    path = tmp_path / "shoko.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_read_no_clock_and_list_the_approved_sources():
    s = load_settings(None, environ={})
    assert s.collection.time_sync_run_command is False
    assert s.thresholds.max_clock_offset_ms == 100
    assert "ntp.nict.jp" in s.thresholds.approved_ntp_sources
    assert s.thresholds.time_sync_guest_configurations == ("TimeSync",)


def test_values_from_file_and_environment(tmp_path):
    path = write(
        tmp_path, "collection:\n  time_sync_run_command: true\nthresholds:\n  approved_ntp_sources: [ntp.internal]\n"
    )
    s = load_settings(path, environ={"SHOKO_THRESHOLDS_MAX_CLOCK_OFFSET_MS": "250"})
    assert s.collection.time_sync_run_command is True
    assert s.thresholds.approved_ntp_sources == ("ntp.internal",)
    assert s.thresholds.max_clock_offset_ms == 250


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thresholds:\n  max_clock_offset_ms: 0\n", "key 'thresholds.max_clock_offset_ms': must be at least 1 ms"),
        ("thresholds:\n  approved_ntp_sources: ['']\n", "key 'thresholds.approved_ntp_sources': empty entry"),
        ("collection:\n  time_sync_run_command: maybe\n", "expected true or false"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert expected in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)
