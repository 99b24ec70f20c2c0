"""Running the app with uvicorn: in the foreground (`shoko serve`) or beside the agent's work in a thread
(`api.with_agent`)."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from agent.http import HealthServerError
from collector.settings import Settings


class ApiServerError(HealthServerError):
    """The API could not start listening (e.g. its port is taken); the message is one line, and `shoko agent`
    reports it as it does for its health port."""


def uvicorn_config(app: Any, settings: Settings, host: str | None = None, port: int | None = None) -> uvicorn.Config:
    api = settings.api
    return uvicorn.Config(
        app,
        host=host or api.listen_host,
        port=api.listen_port if port is None else port,
        ssl_certfile=api.tls_cert_file,
        ssl_keyfile=api.tls_key_file,
        proxy_headers=bool(api.trusted_proxies),
        forwarded_allow_ips=list(api.trusted_proxies) or None,
        server_header=False,
        log_config=None,  # shoko's own logging (agent/logs.py), secrets masked
    )


class ApiServer:
    """uvicorn in a daemon thread; `stop` asks it to finish its requests and exit."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.config = uvicorn_config(app, settings)
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, name="shoko-api", daemon=True)

    def start(self, timeout: float = 15.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ApiServerError(
                    f"the API could not listen on {self.config.host}:{self.config.port} (see the log above)"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
