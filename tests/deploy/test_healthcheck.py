"""The image's HEALTHCHECK script (deploy/healthcheck.py) against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "healthcheck.py"


class _Health(BaseHTTPRequestHandler):
    status = 200
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    _Health.status, _Health.paths = 200, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def _check(tmp_path: Path, config: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "agent.yaml"
    path.write_text(config, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHOKO_")}
    clean |= {"SHOKO_CONFIG": str(path), "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, str(SCRIPT)], env=clean, capture_output=True, text=True, timeout=60, check=False
    )


def test_healthy_when_healthz_answers_200_on_the_configured_port(server, tmp_path):
    port = server.server_address[1]
    # The port from the config file, the wildcard listen address from the environment (as in the image).
    result = _check(tmp_path, f"agent:\n  listen_port: {port}\n", SHOKO_AGENT_LISTEN_HOST="0.0.0.0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"healthy: http://127.0.0.1:{port}/healthz answered 200"
    assert _Health.paths == ["/healthz"]


def test_unhealthy_on_an_error_status(server, tmp_path):
    _Health.status = 503
    port = server.server_address[1]
    result = _check(tmp_path, SHOKO_AGENT_LISTEN_PORT=str(port))
    assert result.returncode == 1
    assert result.stdout.strip() == f"unhealthy: http://127.0.0.1:{port}/healthz answered 503"


def test_unhealthy_when_nothing_listens(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: the connection is refused
        result = _check(tmp_path, SHOKO_AGENT_LISTEN_PORT=str(port))
    assert result.returncode == 1
    assert result.stdout.startswith(f"unhealthy: http://127.0.0.1:{port}/healthz: ")
    assert result.stderr == "" and len(result.stdout.strip().splitlines()) == 1


def test_unhealthy_without_a_port_or_with_a_bad_config(tmp_path):
    result = _check(tmp_path, SHOKO_AGENT_LISTEN_PORT="0")
    assert (result.returncode, result.stdout.strip()) == (
        1,
        "unhealthy: agent.listen_port is 0, so the agent serves no /healthz",
    )
    result = _check(tmp_path, "agent:\n  listen_prot: 9464\n")
    assert result.returncode == 1
    assert result.stdout.startswith("unhealthy: config error: ") and "agent.listen_prot" in result.stdout


def test_wildcard_and_ipv6_addresses_are_asked_on_loopback():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from healthcheck import healthz_url
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert healthz_url("0.0.0.0", 9464) == "http://127.0.0.1:9464/healthz"
    assert healthz_url("::", 9464) == "http://[::1]:9464/healthz"
    assert healthz_url("10.1.2.3", 80) == "http://10.1.2.3:80/healthz"
    assert healthz_url("fd00::5", 80) == "http://[fd00::5]:80/healthz"
