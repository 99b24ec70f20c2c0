"""Virtual machines, and for each VM the extensions installed on it and the data collection rules associated
with it (the agents that protect a VM and collect its logs).

Virtual Machines - List All (azure-mgmt-compute 39, api-version 2026-04-01) returns each VM without its
extensions: `resources` (the extensions) is in a single VM's GET (REST spec example VirtualMachine_Get.json) but not
in the listings' hand-written examples (VirtualMachine_ListBySubscription_ByLocation.json), so the extensions are
read per VM with Virtual Machine Extensions - List (one call per VM), and the data collection rule associations
with Data Collection Rule Associations - List By Resource (azure-mgmt-monitor 6.0.2, api-version 2022-06-01; one
call per VM). Each per-VM call is made only when a check of the run needs it (the plan's `wanted_types`), and
is stored as one document per VM, `{"value": [...]}`, so "none installed" is a fact and not a gap. A failed call
is recorded against that VM only. Each VM's reads go to the run's call pool; the VMs' listing is made once per run
(the time-sync fetcher reads the same pages).

With `collection.resource_graph` (the default) both kinds are read instead with one Resource Graph query per
subscription each (collector/fetchers/resource_graph.py: `resources` holds the extensions, `insightsresources` the
associations) and stored in the same per-VM documents; a query that fails falls back to the per-VM ARM reads.
"""

from collections.abc import Callable
from typing import Any

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.monitor import MonitorManagementClient

from collector.fetchers import resource_graph
from collector.fetchers.base import FetchContext, Fetcher, RawCapture, drain, resource_group_of
from controls.model import Kind

VIRTUAL_MACHINE = "virtual_machine"
# One document per VM: {"value": [extension, ...]} as Virtual Machine Extensions - List returns them.
VM_EXTENSIONS = "vm_extensions"
# One document per VM: {"value": [association, ...]} from Data Collection Rule Associations - List By Resource.
DCR_ASSOCIATIONS = "dcr_associations"

VM_TYPE = "microsoft.compute/virtualmachines"
VMS = "compute.virtual_machines"  # the run's listing of a subscription's VMs
EXTENSION_TYPE = "microsoft.compute/virtualmachines/extensions"
ASSOCIATION_TYPE = "microsoft.insights/datacollectionruleassociations"


def _vm_of_extension(extension_id: str) -> str:
    head, sep, _ = extension_id.lower().rpartition("/extensions/")
    return head if sep else ""


def _vm_of_association(association_id: str) -> str:
    head, sep, _ = association_id.lower().partition("/providers/microsoft.insights/datacollectionruleassociations/")
    return head if sep else ""


def _from_graph(ctx: FetchContext, kind: Kind, table: str, resource_type: str, vms: list[dict[str, Any]],
                parent_of: Callable[[str], str]) -> bool:  # fmt: skip
    """Read `kind` for every VM with one Resource Graph query; False when the query failed (read it from ARM)."""
    try:
        rows = resource_graph.query_type(ctx, table, resource_type)
    except Exception as exc:
        resource_graph.fell_back(ctx, kind, exc)
        return False
    resource_graph.record_by_parent(ctx, kind, rows, vms, parent_of)
    return True


def _per_vm(ctx: FetchContext, kind: Kind, vm_id: str, call: Callable[[RawCapture], Any]) -> None:
    """Run `call(capture)` for one VM and store what it returned as one document `{"value": [...]}`."""
    capture = RawCapture()
    try:
        call(capture)
    except Exception as exc:  # recorded against this VM only; the others go on
        ctx.sink.error(kind, ctx.fetcher.name, vm_id, exc)
        return
    page = capture.pages[-1] if capture.pages else None
    ctx.record_document(
        kind,
        {"value": [doc for doc, _ in capture.documents()]},
        resource_id=vm_id,
        api_version=page.api_version if page else "",
        request_id=page.request_id if page else None,
    )


def _run(ctx: FetchContext) -> None:
    compute = ctx.clients.arm(ComputeManagementClient, ctx.subscription_id)
    vms = ctx.record(VIRTUAL_MACHINE, ctx.listing(VMS, compute.virtual_machines.list_all))
    extensions = VM_TYPE in ctx.wanted_types.get(VM_EXTENSIONS, ())
    associations = VM_TYPE in ctx.wanted_types.get(DCR_ASSOCIATIONS, ())
    if vms and resource_graph.enabled(ctx):
        if extensions:
            extensions = not _from_graph(ctx, VM_EXTENSIONS, "resources", EXTENSION_TYPE, vms, _vm_of_extension)
        if associations:
            associations = not _from_graph(
                ctx, DCR_ASSOCIATIONS, "insightsresources", ASSOCIATION_TYPE, vms, _vm_of_association
            )
    monitor = ctx.clients.arm(MonitorManagementClient, ctx.subscription_id) if associations else None
    # Taken once: the multi-API client builds the operation group (and its models' table) on every access.
    associations_ops = monitor.data_collection_rule_associations if monitor is not None else None

    def read(vm: dict[str, Any]) -> None:
        vm_id, name = str(vm.get("id", "")), str(vm.get("name", ""))
        if extensions:
            rg = resource_group_of(vm_id)
            _per_vm(
                ctx,
                VM_EXTENSIONS,
                vm_id,
                # One document, not paged: streamed so the SDK neither parses it nor builds its model (get_raw).
                lambda hook, rg=rg, name=name: compute.virtual_machine_extensions.list(
                    rg, name, raw_response_hook=hook, stream=True
                ),
            )
        if monitor is not None:
            _per_vm(
                ctx,
                DCR_ASSOCIATIONS,
                vm_id,
                lambda hook, vm_id=vm_id: drain(
                    associations_ops.list_by_resource(vm_id.lstrip("/"), raw_response_hook=hook), hook
                ),
            )

    if extensions or monitor is not None:
        ctx.each(vms, read)


FETCHER = Fetcher(
    "compute.virtual_machines",
    {VIRTUAL_MACHINE: (VM_TYPE,), VM_EXTENSIONS: (VM_TYPE,), DCR_ASSOCIATIONS: (VM_TYPE,)},
    tenant_wide=False,
    run=_run,
    listings=(VMS,),
)
