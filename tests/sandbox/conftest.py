"""One sandbox serving the example estate for the whole session, and real SDK credentials for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.identity import ClientSecretCredential

from sandbox.estate import Estate, load_estate
from sandbox.server import Sandbox, SandboxInfo
from tests.sandbox.sdk import credential_for

ESTATE = Path(__file__).resolve().parents[2] / "sandbox" / "estates" / "hospital-emr.yaml"


@pytest.fixture(scope="session")
def emr_estate() -> Estate:
    return load_estate(ESTATE)


@pytest.fixture(scope="session")
def emr_sandbox(emr_estate: Estate) -> Iterator[Sandbox]:
    with Sandbox(emr_estate, port=0, page_size=2) as sb:
        yield sb


@pytest.fixture
def sb(emr_sandbox: Sandbox) -> Iterator[Sandbox]:
    """The session sandbox, with no faults before or after the test."""
    emr_sandbox.faults.clear()
    yield emr_sandbox
    emr_sandbox.faults.clear()


@pytest.fixture(scope="session")
def info(emr_sandbox: Sandbox) -> SandboxInfo:
    return emr_sandbox.info


@pytest.fixture(scope="session")
def credential(info: SandboxInfo) -> ClientSecretCredential:
    return credential_for(info)


@pytest.fixture(scope="session")
def client_kwargs(info: SandboxInfo) -> dict[str, Any]:
    """What every azure-mgmt-* client needs besides the credential (and subscription id)."""
    return {"base_url": info.base_url, "connection_verify": info.ca_bundle}


@pytest.fixture(scope="session")
def prod(info: SandboxInfo) -> str:
    return info.subscriptions[0]


@pytest.fixture(scope="session")
def dev(info: SandboxInfo) -> str:
    return info.subscriptions[1]


@pytest.fixture(scope="session")
def http(info: SandboxInfo) -> requests.Session:
    """Plain HTTPS to the sandbox."""
    session = requests.Session()
    # Not from the environment: REQUESTS_CA_BUNDLE would override `verify`, and a proxy must not see loopback.
    session.trust_env = False
    session.verify = info.ca_bundle
    return session
