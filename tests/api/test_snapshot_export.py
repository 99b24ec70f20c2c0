"""Snapshot downloads are built by a child process (api.snapshot_export): the bundle is the CLI's, its temporary
files go once it is sent, and a child that fails or dies says why."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import tempfile
import zipfile

import pytest

from api.snapshot_export import SentThenRemoved, SnapshotBuildError, SnapshotJob, _run_child, build_snapshot
from controls.catalog import load_catalog
from reports.bundle import PUBLIC_KEY_FILE, fingerprint, load_public_key, verify_bundle
from storage.ledger import Ledger


def test_a_download_is_signed_and_names_its_key_in_the_report_as_the_cli_does(api, collected, tmp_path):
    response = api.get("/api/v1/snapshot", params={"requirements": "86", "lang": "en"})
    assert response.status_code == 200
    (tmp_path / "snap.zip").write_bytes(response.content)
    verified = verify_bundle(tmp_path / "snap.zip")
    assert verified.ok, verified.problem
    key = fingerprint(load_public_key(collected.key_file.parent / PUBLIC_KEY_FILE))
    assert verified.manifest["fingerprint"] == key
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        assert key in bundle.read("report.html").decode("utf-8")


def test_the_bundle_is_not_built_in_the_api_process_and_its_files_go_once_sent(api, tmp_path, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("the API process built the bundle itself")

    monkeypatch.setattr("reports.contents.build_bundle", refuse)  # only this process's copy
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    response = api.get("/api/v1/snapshot", params={"requirements": "148"})
    assert response.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(response.content)).testzip() is None
    assert not list(tmp_path.glob("shoko-snapshot-*")), "the sent bundle's temporary directory is left behind"


def test_a_failure_the_snapshot_code_words_is_passed_on_as_it_is(collected, tmp_path):
    empty = tmp_path / "empty.db"
    Ledger(f"sqlite:///{empty}").close()
    with pytest.raises(SnapshotBuildError) as refused:
        build_snapshot(f"sqlite:///{empty}", load_catalog(), None, None, "en", None, str(collected.key_file))
    assert refused.value.stated
    assert str(refused.value) == "no completed full run yet: nothing to export"


class _Exits:
    """Unpickled by the child before it builds anything: it ends the child there."""

    def __init__(self, code: int) -> None:
        self.code = code

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os._exit, (self.code,))


class _Killed:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (signal.raise_signal, (signal.SIGKILL,))


@pytest.mark.parametrize(
    ("catalog", "said"),
    [
        (_Exits(3), "the process building the snapshot ended with exit code 3 without a bundle"),
        (
            _Killed(),
            "the process building the snapshot was killed by SIGKILL (SIGKILL: most often the kernel's OOM killer, "
            "out of memory)",
        ),
    ],
)
def test_a_child_that_dies_says_how(catalog, said, tmp_path):
    job = SnapshotJob("sqlite:///unused.db", catalog, None, None, "en", None, None, tmp_path / "snapshot.zip")
    with pytest.raises(SnapshotBuildError) as died:
        _run_child(job)
    assert str(died.value) == said and not died.value.stated
    assert not (tmp_path / "snapshot.zip").exists()


def test_a_bundle_whose_client_went_away_is_removed_all_the_same(tmp_path):
    folder = tmp_path / "shoko-snapshot-x"
    folder.mkdir()
    (folder / "snapshot.zip").write_bytes(b"PK" + b"\0" * 100_000)
    response = SentThenRemoved(folder / "snapshot.zip", lambda: shutil.rmtree(folder), "shoko-snapshot-run1.zip")

    async def receive():  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()  # the connection says nothing more, as a client that vanished without a close

    async def gone(message):  # type: ignore[no-untyped-def]
        if message["type"] == "http.response.body":
            raise OSError("the client closed the connection")

    scope = {"type": "http", "method": "GET", "path": "/api/v1/snapshot", "headers": [], "query_string": b""}
    with pytest.raises(OSError, match="closed the connection"):
        asyncio.run(response(scope, receive, gone))
    assert not folder.exists()
