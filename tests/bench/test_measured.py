"""The benchmark's figures of a child process: its own peak resident set, not this process's."""

from __future__ import annotations

import os

from bench.run import IMAGE_ALLOCATOR, ROOT, run_measured


def test_a_childs_peak_is_its_own_not_the_resident_set_of_the_process_that_started_it(tmp_path) -> None:
    held = b"x" * (400 << 20)  # this process resident with 400 MB more, as the benchmark is holding a large estate
    child = "import time; kept = b'y' * (60 << 20); time.sleep(1.5)"
    measured = run_measured(["-c", child], tmp_path / "log", dict(os.environ))
    assert measured.code == 0 and len(held) == 400 << 20
    assert 60 << 20 < measured.peak_rss < 300 << 20, measured


def test_the_allocator_settings_the_benchmark_gives_the_collector_are_the_container_images() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for name, value in IMAGE_ALLOCATOR.items():
        assert f"    {name}={value} \\\n" in dockerfile, name
