"""How each VM keeps its clock: machine configuration (guest configuration) assignments, and, when enabled,
the clock read inside the VM with VM Run Command.

ARM does not show a VM's time source. Two ways in:

- Guest Configuration Assignments - Subscription List (azure-mgmt-guestconfig 1.0, api-version 2024-04-05,
  `GET /subscriptions/{s}/providers/Microsoft.GuestConfiguration/guestConfigurationAssignments`; REST spec
  example listSubGuestConfigurationAssignments.json): one call per subscription returning every assignment on
  every VM, with `properties.guestConfiguration.name` and `properties.complianceStatus`. Read-only (Reader).
- Virtual Machines - Run Command (azure-mgmt-compute 39, api-version 2026-04-01, `POST .../virtualMachines/{vm}/
  runCommand`): only when `collection.time_sync_run_command` is true. One call per VM (a long-running
  operation): `chronyc tracking`, `chronyc sources` and the chrony refclock lines on Linux (RunShellScript),
  `w32tm /query /status /verbose` on Windows (RunPowerShellScript). The scripts only read; the call needs
  Microsoft.Compute/virtualMachines/runCommand/action. The VMs are listed once more for it (Virtual Machines -
  List All, not stored: the VM documents come from compute.virtual_machines). The operation's final response,
  `{"value": [instance view status, ...]}` with the script's stdout in `message`, is stored as one document per
  VM; a VM whose command fails (stopped, agent not ready, 403) is an error for that VM only.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlparse

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import RunCommandInput
from azure.mgmt.guestconfig import GuestConfigurationClient

from collector.fetchers.base import FetchContext, Fetcher, InvalidResponseError, Page, resource_group_of
from collector.fetchers.virtual_machines import VMS

GUEST_CONFIGURATION_ASSIGNMENT = "guest_configuration_assignment"
# One document per VM: the run command's final response {"value": [{"code", "message", ...}, ...]}.
VM_CLOCK = "vm_clock"

VM_TYPE = "microsoft.compute/virtualmachines"

LINUX_SCRIPT = [
    "echo '## chronyc tracking'",
    "chronyc tracking",
    "echo '## chronyc sources'",
    "chronyc sources",
    "echo '## refclock'",
    "grep -hs '^refclock' /etc/chrony.conf /etc/chrony/chrony.conf /etc/chrony/conf.d/*.conf",
]
WINDOWS_SCRIPT = ["'## w32tm /query /status /verbose'", "w32tm /query /status /verbose"]
# Run commands in flight at once in one subscription (each takes tens of seconds in Azure).
RUN_COMMAND_WORKERS = 4
# Seconds between polls of a run command's operation when Azure gives no Retry-After (azure-core's default is 30;
# a script of a few lines finishes in seconds once the VM agent picks it up).
RUN_COMMAND_POLL_SECONDS = 5


class UnknownOsTypeError(RuntimeError):
    """The VM document names no OS type, so no run command script can be chosen."""

    code = "UnknownOsType"


class _FinalResult:
    """A `raw_response_hook` for the run command's long-running operation keeping its result: the last GET
    answered 200 with `{"value": [...]}` (the POST's 202 is streamed and holds nothing; status polls hold no
    `value`)."""

    def __init__(self) -> None:
        self.page: Page | None = None

    def __call__(self, pipeline_response: Any) -> None:
        request, response = pipeline_response.http_request, pipeline_response.http_response
        if request.method.upper() != "GET" or response.status_code != 200:
            return
        text = response.text()
        try:
            body = json.loads(text) if text else None
        except ValueError as exc:
            raise InvalidResponseError(f"HTTP 200 body is not valid JSON ({exc}): {request.url}") from None
        if isinstance(body, dict) and isinstance(body.get("value"), list):
            version = parse_qs(urlparse(request.url).query).get("api-version", [""])[0]
            self.page = Page(body, response.headers.get("x-ms-request-id"), version)


def _read_clock(ctx: FetchContext, compute: ComputeManagementClient, vm: dict[str, Any]) -> None:
    vm_id, name = str(vm.get("id", "")), str(vm.get("name", ""))
    os_type = str(((vm.get("properties") or {}).get("storageProfile") or {}).get("osDisk", {}).get("osType") or "")
    capture = _FinalResult()
    try:
        if os_type.lower() == "linux":
            command = RunCommandInput(command_id="RunShellScript", script=LINUX_SCRIPT)
        elif os_type.lower() == "windows":
            command = RunCommandInput(command_id="RunPowerShellScript", script=WINDOWS_SCRIPT)
        else:
            raise UnknownOsTypeError(f"properties.storageProfile.osDisk.osType is {os_type or 'missing'}")
        compute.virtual_machines.begin_run_command(
            resource_group_of(vm_id),
            name,
            command,
            raw_response_hook=capture,
            polling_interval=RUN_COMMAND_POLL_SECONDS,
        ).result()
    except Exception as exc:  # recorded against this VM only; the others go on
        ctx.sink.error(VM_CLOCK, ctx.fetcher.name, vm_id, exc)
        return
    final = capture.page
    if final is None:
        ctx.sink.error(VM_CLOCK, ctx.fetcher.name, vm_id, RuntimeError("the run command returned no output"))
        return
    ctx.record_document(
        VM_CLOCK, final.body, resource_id=vm_id, api_version=final.api_version, request_id=final.request_id
    )


def _run(ctx: FetchContext) -> None:
    guest = ctx.clients.arm(GuestConfigurationClient, ctx.subscription_id)
    try:
        ctx.list_into(GUEST_CONFIGURATION_ASSIGNMENT, guest.guest_configuration_assignments.subscription_list)
    except Exception as exc:  # the run command path below does not depend on it
        ctx.sink.error(GUEST_CONFIGURATION_ASSIGNMENT, ctx.fetcher.name, ctx.scope, exc)
    if not ctx.clients.collection.time_sync_run_command:
        return
    compute = ctx.clients.arm(ComputeManagementClient, ctx.subscription_id)
    try:
        vms = [doc for doc, _ in ctx.listing(VMS, compute.virtual_machines.list_all).documents()]
    except Exception as exc:
        ctx.sink.error(VM_CLOCK, ctx.fetcher.name, ctx.scope, exc)
        return
    with ThreadPoolExecutor(max_workers=RUN_COMMAND_WORKERS, thread_name_prefix="run-command") as pool:
        list(pool.map(lambda vm: _read_clock(ctx, compute, vm), vms))


FETCHER = Fetcher(
    "time_sync",
    {GUEST_CONFIGURATION_ASSIGNMENT: (VM_TYPE,), VM_CLOCK: (VM_TYPE,)},
    tenant_wide=False,
    run=_run,
    listings=(VMS,),
)
