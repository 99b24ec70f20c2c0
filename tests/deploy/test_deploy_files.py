"""The deployment files (README "Deployment") are valid and agree with the image and the settings.

The image itself is built and run by scripts/container-test (part of `make test`); these tests keep the
compose file, the Kubernetes manifest, the shipped agent config and the Azure role definition honest.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from collector.settings import AgentSettings, ApiSettings, ConfigError, Settings, load_settings
from controls.checks.roles import read_custom_role
from controls.model import Evidence

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UID = 10001  # the image's USER (Dockerfile; scripts/container-test checks the built image)


def _settings_env_names() -> set[str]:
    settings = Settings()
    return {
        f"SHOKO_{section.name}_{f.name}".upper()
        for section in fields(Settings)
        for f in fields(getattr(settings, section.name))
    }


def _load_config_text(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ=environ or {})


def test_the_shipped_agent_config_is_valid_and_secret_free(tmp_path):
    text = (DEPLOY / "agent.yaml").read_text(encoding="utf-8")
    settings = _load_config_text(tmp_path, text)
    assert settings.azure.credential == "default"
    assert settings.agent.listen_port == AgentSettings().listen_port
    assert "secret:" not in text and "password:" not in text


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text(encoding="utf-8"))


def test_compose_runs_the_agent_on_a_healthy_postgresql(compose):
    db, shoko = compose["services"]["db"], compose["services"]["shoko"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert shoko["depends_on"]["db"]["condition"] == "service_healthy"
    assert shoko["build"]["context"] == ".."
    url = shoko["environment"]["SHOKO_DATABASE_URL"]
    # The password comes from the environment (deploy/.env), never written in the file.
    assert url.startswith("postgresql+psycopg://shoko:${SHOKO_DB_PASSWORD}@db:5432/")
    assert db["environment"]["POSTGRES_PASSWORD"].startswith("${SHOKO_DB_PASSWORD:?")
    source, target, mode = shoko["volumes"][0].split(":")
    assert (DEPLOY / source).is_file() and target == "/etc/shoko/agent.yaml" and mode == "ro"
    assert shoko["ports"] == [f"127.0.0.1:{AgentSettings().listen_port}:{AgentSettings().listen_port}"]
    stop = int(shoko["stop_grace_period"].removesuffix("s"))
    assert stop > AgentSettings().shutdown_grace_seconds
    unknown = {k for k in shoko["environment"] if k.startswith("SHOKO_")} - _settings_env_names()
    assert not unknown, f"not settings variables: {unknown}"


# One agent, and three replicas sharing each run (docs/replicas.md).
KUBERNETES = ("kubernetes.yaml", "kubernetes-replicas.yaml")
# What the manifests' Secret gives the pods (the tests load their ConfigMap with it).
SECRET_ENV = {"SHOKO_DATABASE_URL": "postgresql+psycopg://shoko:x@db.example.internal:5432/shoko"}


@pytest.fixture(scope="module", params=KUBERNETES)
def kube(request: pytest.FixtureRequest) -> dict[str, dict]:
    docs = list(yaml.safe_load_all((DEPLOY / request.param).read_text(encoding="utf-8")))
    assert all(d["metadata"]["name"] for d in docs)
    return {d["kind"]: d for d in docs}


def test_kubernetes_deployment_uses_workload_identity(kube):
    account = kube["ServiceAccount"]
    pod = kube["Deployment"]["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"  # a string, as the webhook wants
    assert pod["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"]
    assert kube["Deployment"]["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


def test_kubernetes_probes_security_and_secrets(kube, tmp_path):
    pod = kube["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    port = container["ports"][0]
    assert port["containerPort"] == AgentSettings().listen_port
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == UID and pod["securityContext"]["fsGroup"] == UID
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["terminationGracePeriodSeconds"] > AgentSettings().shutdown_grace_seconds
    env = {e["name"]: e for e in container["env"]}
    assert env["SHOKO_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"]
    assert set(env) <= _settings_env_names()
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["config"] == "/etc/shoko" and mounts["data"] == "/var/lib/shoko" and "tmp" in mounts
    # The ConfigMap becomes /etc/shoko/agent.yaml, the file the image's SHOKO_CONFIG names: it must load.
    config_map = kube["ConfigMap"]
    volume = next(v for v in pod["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    settings = _load_config_text(tmp_path, config_map["data"]["agent.yaml"], SECRET_ENV)
    assert settings.azure.credential == "default" and settings.agent.listen_port == port["containerPort"]
    assert (
        kube["Service"]["spec"]["selector"].items()
        <= kube["Deployment"]["spec"]["template"]["metadata"]["labels"].items()
    )


def test_kubernetes_replicas_share_runs_on_postgresql(tmp_path):
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes-replicas.yaml").read_text(encoding="utf-8")))
    kinds = {d["kind"]: d for d in docs}
    deployment = kinds["Deployment"]
    assert deployment["spec"]["replicas"] == 3 and deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    budget = kinds["PodDisruptionBudget"]["spec"]
    assert budget["minAvailable"] < deployment["spec"]["replicas"]
    assert budget["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    text = kinds["ConfigMap"]["data"]["agent.yaml"]
    settings = _load_config_text(tmp_path, text, SECRET_ENV)
    assert settings.agent.replicas is True and settings.agent.replica_attempts >= 1
    # Replicas refuse SQLite: without the Secret's PostgreSQL URL the config does not load.
    with pytest.raises(ConfigError, match=r"agent\.replicas"):
        _load_config_text(tmp_path, text)
    # The single-agent manifest stays one agent.
    single = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text(encoding="utf-8"))}
    assert single["Deployment"]["spec"]["replicas"] == 1
    assert not _load_config_text(tmp_path, single["ConfigMap"]["data"]["agent.yaml"]).agent.replicas


def test_azure_role_is_a_narrow_custom_role_definition():
    role = json.loads((DEPLOY / "azure-role.json").read_text(encoding="utf-8"))
    assert set(role) == {"Name", "IsCustom", "Description", "Actions", "NotActions", "DataActions", "NotDataActions",
                         "AssignableScopes"}  # fmt: skip
    assert role["IsCustom"] is True and role["Name"] and role["Description"]
    assert role["Actions"] == ["Microsoft.Compute/virtualMachines/runCommand/action"]
    assert role["DataActions"] == [] and role["AssignableScopes"]
    assert all(s.startswith(("/subscriptions/", "/providers/Microsoft.Management/managementGroups/"))
               for s in role["AssignableScopes"])  # fmt: skip
    # Judged by shoko's own rule for custom roles (check custom-role-no-broad-actions): not privileged.
    document = {
        "id": "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Authorization/roleDefinitions/x",
        "properties": {
            "roleName": role["Name"],
            "type": "CustomRole",
            "permissions": [{"actions": role["Actions"], "notActions": role["NotActions"]}],
            "assignableScopes": role["AssignableScopes"],
        },
    }
    evidence = Evidence(
        kind="role_definition",
        source="deploy",
        scope="deploy",
        resource_id=document["id"],
        api_version="-",
        request_id=None,
        collected_at=datetime.now(UTC),
        content=document,
    )
    custom = read_custom_role(evidence)
    assert custom is not None and custom.unreadable is None
    assert custom.breadth is None and not custom.privileged


def test_the_image_exposes_the_health_and_api_ports_and_the_api_can_be_enabled(tmp_path):
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text(encoding="utf-8")
    exposed = {int(p) for line in dockerfile.splitlines() if line.startswith("EXPOSE ") for p in line.split()[1:]}
    assert exposed == {AgentSettings().listen_port, ApiSettings().listen_port}
    # The API listens on every interface inside the container, as the health port does.
    assert "SHOKO_API_LISTEN_HOST=0.0.0.0" in dockerfile and "SHOKO_API_LISTEN_HOST" in _settings_env_names()
    # The shipped config documents how to enable it: uncommented, it loads and turns the API on at that port.
    text = (DEPLOY / "agent.yaml").read_text(encoding="utf-8")
    block = text[text.index("# api:") :]
    enabled = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    settings = _load_config_text(tmp_path, text.replace(block, enabled))
    assert settings.api.with_agent is True and settings.api.listen_port == ApiSettings().listen_port
    assert _load_config_text(tmp_path, text).api.with_agent is False  # off unless enabled
