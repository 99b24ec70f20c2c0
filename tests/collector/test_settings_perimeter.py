"""Perimeter thresholds: the VMs allowed a public IP and the scope of the egress rule, each validated with one
line naming the key."""

from pathlib import Path

import pytest

from collector.settings import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "agent.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_allow_no_public_ip_and_judge_production_egress():
    t = load_settings(None, environ={}).thresholds
    assert t.public_ip_allowed_vms == () and t.egress_firewall_scope == "production"


def test_values_from_the_file_and_the_environment(tmp_path: Path):
    vm = (
        "/subscriptions/a8233bec-16ce-49d8-af36-5decabf6c438/resourceGroups/rg/providers/Microsoft.Compute/"
        "virtualMachines/vm1"
    )
    path = write(
        tmp_path, f"thresholds:\n  public_ip_allowed_vms: [vm-emr-jump-prod, '{vm}']\n  egress_firewall_scope: all\n"
    )
    t = load_settings(path, environ={}).thresholds
    assert t.public_ip_allowed_vms == ("vm-emr-jump-prod", vm) and t.egress_firewall_scope == "all"
    env = {"SHOKO_THRESHOLDS_EGRESS_FIREWALL_SCOPE": "production"}
    assert load_settings(path, environ=env).thresholds.egress_firewall_scope == "production"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "thresholds:\n  egress_firewall_scope: prod\n",
            "key 'thresholds.egress_firewall_scope': must be 'production' or 'all', got 'prod'",
        ),
        (
            "thresholds:\n  public_ip_allowed_vms: ['']\n",
            "key 'thresholds.public_ip_allowed_vms': '' is neither a VM name nor a VM resource id",
        ),
        (
            "thresholds:\n  public_ip_allowed_vms: ['/subscriptions/x/providers/Microsoft.Network/ips/p']\n",
            "is neither a VM name nor a VM resource id",
        ),
    ],
)
def test_bad_values_are_one_line_errors(tmp_path: Path, text: str, message: str):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as excinfo:
        load_settings(path, environ={})
    assert message in str(excinfo.value) and "\n" not in str(excinfo.value)
    assert str(excinfo.value).startswith(str(path))
