"""Time synchronisation of virtual machines: each VM's clock synchronised, within the allowed offset, to the Azure
host clock or an approved NTP server.

ARM does not show a VM's clock. A check reads, for each VM, the clock read inside it by VM Run Command (when the
collector is allowed to: chrony on Linux, w32tm on Windows) and otherwise the compliance of the machine
configuration (guest configuration) assignment that audits its clock. A VM neither shows is `error`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import display_name, error_covering, field, norm_id, props
from controls.model import Evidence, FactSet, Thresholds

# Fact kinds (collector.fetchers.virtual_machines, collector.fetchers.time_sync).
VIRTUAL_MACHINE = "virtual_machine"
GUEST_CONFIGURATION_ASSIGNMENT = "guest_configuration_assignment"
VM_CLOCK = "vm_clock"

VM_TYPE = "microsoft.compute/virtualmachines"

WINDOWS_HOST_PROVIDER = "vm ic time synchronization provider"
WINDOWS_LOCAL_SOURCES = frozenset({"local cmos clock", "free-running system clock"})
HOST_CLOCK = ("Azure ホストの時刻 (PTP / VM IC)", "the Azure host clock (PTP / VM IC)")

API = (
    "Guest Configuration Assignments - Subscription List (api-version 2024-04-05): properties.guestConfiguration."
    "name, properties.complianceStatus; with collection.time_sync_run_command, Virtual Machines - Run Command "
    "(api-version 2026-04-01, one call per VM): `chronyc tracking` / `chronyc sources` / chrony refclock lines "
    "(Linux), `w32tm /query /status /verbose` (Windows); Virtual Machines - List All for the VMs and their osType"
)


@dataclass(frozen=True)
class ClockReading:
    """What a VM's own time service reported."""

    os: str  # "Linux" | "Windows"
    source: str | None  # the selected source: NTP server, chrony refclock, or the Windows time provider
    host_clock: bool  # the Azure host: a chrony refclock on /dev/ptp_hyperv, or the VM IC time provider
    synchronised: bool
    offset_ms: float | None
    state: str  # the tool's own words for the sync state, quoted in reasons


def stdout_of(content: dict[str, Any]) -> str | None:
    """The script's standard output in a run command result (Windows: the StdOut status; Linux: the
    `[stdout]` part of the single status message)."""
    for status in content.get("value") or []:
        message = status.get("message") if isinstance(status, dict) else None
        if not isinstance(message, str):
            continue
        if "stdout" in str(status.get("code", "")).lower():
            return message
        if "[stdout]" in message:
            return message.split("[stdout]", 1)[1].split("[stderr]", 1)[0]
    return None


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip().lower()
            out[current] = []
        else:
            out.setdefault(current, []).append(line)
    return out


def _pairs(lines: list[str], aliases: dict[str, str] | None = None) -> dict[str, str]:
    """`Key: value` lines as {key: value}, keys lower-cased and mapped through `aliases` (localised labels)."""
    pairs: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.replace("\uff1a", ":").partition(":")
        if sep:
            key = key.strip().lower()
            pairs.setdefault((aliases or {}).get(key, key), value.strip())
    return pairs


# w32tm prints its labels in the Windows display language; the Japanese ones, mapped to the English.
W32TM_JA_LABELS = {
    "ソース": "source",
    "フェーズ オフセット": "phase offset",
    "位相オフセット": "phase offset",
    "閏インジケーター": "leap indicator",
    "うるう秒インジケーター": "leap indicator",
    "最終同期エラー": "last sync error",
}


_CHRONY_OFFSET = re.compile(r"^([0-9.]+)\s+seconds\s+(fast|slow)", re.IGNORECASE)
_CHRONY_SOURCE = re.compile(r"^([\^#=])([*+\-?x~])\s+(\S+)")
_SECONDS = re.compile(r"^([-+]?[0-9.]+)\s*s", re.IGNORECASE)


def parse_chrony(text: str) -> ClockReading | None:
    sections = _sections(text)
    tracking = _pairs(sections.get("chronyc tracking", []))
    if "reference id" not in tracking:
        return None
    offset = _CHRONY_OFFSET.match(tracking.get("system time", ""))
    selected = None
    for line in sections.get("chronyc sources", []):
        m = _CHRONY_SOURCE.match(line)
        if m and m.group(2) == "*":
            selected = (m.group(1), m.group(3))
    refclocks = [line for line in sections.get("refclock", []) if line.strip().startswith("refclock")]
    leap = tracking.get("leap status", "")
    ref_name = re.search(r"\(([^)]*)\)", tracking["reference id"])
    source = selected[1] if selected else (ref_name.group(1) if ref_name and ref_name.group(1) else None)
    return ClockReading(
        os="Linux",
        source=source,
        host_clock=selected is not None and selected[0] == "#" and any("ptp_hyperv" in r for r in refclocks),
        synchronised=selected is not None and leap.lower() not in ("", "not synchronised"),
        offset_ms=float(offset.group(1)) * 1000 if offset else None,
        state=f"Leap status {leap or '(none)'}" + ("" if selected else ", no source selected (^*/#*)"),
    )


def parse_w32tm(text: str) -> ClockReading | None:
    status = _pairs(text.splitlines(), W32TM_JA_LABELS)
    if "source" not in status:
        return None
    source = status["source"].split(",", 1)[0].strip()
    offset = _SECONDS.match(status.get("phase offset", ""))
    leap = status.get("leap indicator", "")
    # "Last Sync Error" (verbose output) other than 0: the last attempt failed and the clock runs free since.
    sync_error = status.get("last sync error", "")
    return ClockReading(
        os="Windows",
        source=source or None,
        host_clock=source.lower() == WINDOWS_HOST_PROVIDER,
        synchronised=bool(source)
        and source.lower() not in WINDOWS_LOCAL_SOURCES
        and not leap.startswith("3")
        and sync_error.split(" ", 1)[0] in ("", "0"),
        offset_ms=float(offset.group(1)) * 1000 if offset else None,
        state=f"Source {status['source']}, Leap Indicator {leap or '(none)'}"
        + (f", Last Sync Error {sync_error}" if sync_error else ""),
    )


def read_clock(ev: Evidence) -> ClockReading | None:
    text = stdout_of(ev.content)
    if text is None:
        return None
    return parse_chrony(text) if "## chronyc tracking" in text else parse_w32tm(text)


def _stderr_of(content: dict[str, Any]) -> str:
    for status in content.get("value") or []:
        message = status.get("message") if isinstance(status, dict) else None
        if not isinstance(message, str):
            continue
        if "stderr" in str(status.get("code", "")).lower():
            return message
        if "[stderr]" in message:
            return message.split("[stderr]", 1)[1]
    return ""


def _first_line(ev: Evidence) -> str:
    """The first line of output that is not one of the script's own `## ` headings, else of its error output."""
    lines = [*(stdout_of(ev.content) or "").splitlines(), *_stderr_of(ev.content).splitlines()]
    said = [line.strip() for line in lines if line.strip() and not line.startswith("## ")]
    return (said or ["(no output)"])[0][:200]


def _vm_of(assignment_id: str) -> str:
    rid = norm_id(assignment_id)
    return rid.split("/providers/microsoft.guestconfiguration/", 1)[0]


def _assignments(facts: FactSet, names: tuple[str, ...]) -> dict[str, list[Evidence]]:
    wanted = {n.lower() for n in names}
    out: dict[str, list[Evidence]] = {}
    for ev in facts.of(GUEST_CONFIGURATION_ASSIGNMENT):
        name = str(field(props(ev.content), "guestConfiguration", "name") or ev.content.get("name") or "")
        if name.lower() in wanted:
            out.setdefault(_vm_of(ev.resource_id), []).append(ev)
    return out


def _phrases(ev: Evidence) -> str:
    """The reasons the machine configuration gave, when the assignment carries its latest report."""
    out = []
    for res in field(props(ev.content), "latestAssignmentReport", "resources") or []:
        for reason in (res.get("reasons") if isinstance(res, dict) else None) or []:
            if isinstance(reason, dict) and reason.get("phrase"):
                out.append(str(reason["phrase"]))
    return "; ".join(out)


@dataclass(frozen=True)
class _Basis:
    clock: Evidence | None
    assignments: list[Evidence]


def _per_vm(facts: FactSet, thresholds: Thresholds) -> Iterator[tuple[Evidence, _Basis | None]]:
    """Each VM with what shows its clock; None when nothing does and no collection error explains it. VMs a
    collection error covers (and nothing else shows) are left to the engine's error finding."""
    clocks = {norm_id(ev.resource_id): ev for ev in facts.of(VM_CLOCK)}
    assigned = _assignments(facts, thresholds.time_sync_guest_configurations)
    for vm in facts.of(VIRTUAL_MACHINE):
        vm_id = norm_id(vm.resource_id)
        clock = clocks.get(vm_id)
        if clock is not None:
            yield vm, _Basis(clock, [])
        elif error_covering(facts, [VM_CLOCK], vm.resource_id) is not None:
            continue  # run command enabled and failed for it: the engine reports that error
        elif vm_id in assigned:
            yield vm, _Basis(None, assigned[vm_id])
        elif error_covering(facts, [GUEST_CONFIGURATION_ASSIGNMENT], vm.resource_id) is not None:
            continue
        else:
            yield vm, None


def _unseen(vm: Evidence, thresholds: Thresholds) -> Outcome:
    names = ", ".join(thresholds.time_sync_guest_configurations) or "(none)"
    return errored(
        vm.resource_id,
        f"仮想マシン {display_name(vm)} の時刻同期を確認できません: マシン構成 (ゲスト構成) {names} の割り当てがなく、"
        "Run Command による時刻の読み取り (collection.time_sync_run_command) も無効です",
        f"virtual machine {display_name(vm)}: its time synchronisation cannot be seen: no machine configuration "
        f"(guest configuration) assignment of {names}, and reading the clock with Run Command "
        "(collection.time_sync_run_command) is off",
        vm,
    )


def _by_assignment(vm: Evidence, assignments: list[Evidence], what_ja: str, what_en: str) -> Outcome:
    """Judge a VM by its time-sync machine configuration assignments: all Compliant passes, any NonCompliant
    fails, anything else (Pending, missing) cannot be judged."""
    name = display_name(vm)
    states = [(ev, str(props(ev.content).get("complianceStatus") or "")) for ev in assignments]
    listed = ", ".join(f"{display_name(ev)} complianceStatus {s or 'not set'}" for ev, s in states)
    bad = [ev for ev, s in states if s.lower() == "noncompliant"]
    if bad:
        why = "; ".join(p for p in (_phrases(ev) for ev in bad) if p)
        return failed(
            vm.resource_id,
            f"仮想マシン {name} の時刻同期のマシン構成割り当てが非準拠です "
            f"({listed}{'、理由: ' + why if why else ''})。{what_ja}ことが必要です",
            f"virtual machine {name}: its time-sync machine configuration assignment is not compliant ({listed}"
            f"{'; reasons: ' + why if why else ''}); {what_en} is required",
            vm,
            assignments,
        )
    if all(s.lower() == "compliant" for _, s in states):
        return passed(
            vm.resource_id,
            f"仮想マシン {name} の時刻同期のマシン構成割り当てが準拠しています ({listed})",
            f"virtual machine {name}: its time-sync machine configuration assignment is compliant ({listed})",
            vm,
            assignments,
        )
    return errored(
        vm.resource_id,
        f"仮想マシン {name} の時刻同期のマシン構成割り当てがまだ評価されていません ({listed})",
        f"virtual machine {name}: its time-sync machine configuration assignment has not been evaluated ({listed})",
        vm,
        assignments,
    )


def _unreadable(vm: Evidence, clock: Evidence) -> Outcome:
    first = _first_line(clock)
    return errored(
        vm.resource_id,
        f"仮想マシン {display_name(vm)} の Run Command の出力から時刻源を読み取れません (先頭行: {first})",
        f"virtual machine {display_name(vm)}: the time source cannot be read from the Run Command output "
        f"(first line: {first})",
        vm,
        clock,
    )


@check(
    id="vm-time-sync-compliant",
    title_ja="仮想マシンの時刻が同期している",
    title_en="Virtual machine clocks are synchronised",
    judges=(VM_TYPE,),
    reads=(VIRTUAL_MACHINE, GUEST_CONFIGURATION_ASSIGNMENT, VM_CLOCK),
    per_subscription=True,  # a VM's guest configuration and clock lie under its id
    api=API,
    rule_ja=(
        "各 VM の時刻が同期していること: Run Command で読んだ時刻サービスが同期元を選択しており (chrony の Leap status "
        "が Normal で ^*/#* の同期元あり、w32tm の Source が Local CMOS Clock / Free-running System Clock でなく "
        "Last Sync Error が 0)、同期元とのずれが max_clock_offset_ms 以内。Run Command を使わない場合は"
        "時刻同期のマシン構成割り当て (time_sync_guest_configurations) が Compliant"
    ),
    rule_en=(
        "Each VM's clock is synchronised: read with Run Command, its time service has a selected source (chrony "
        "Leap status Normal with a ^*/#* source; w32tm Source not Local CMOS Clock / Free-running System Clock, "
        "Last Sync Error 0) and is within max_clock_offset_ms of it. Without Run Command, its time-sync machine "
        "configuration assignment (time_sync_guest_configurations) is Compliant"
    ),
    remediation_ja=(
        "Linux は chrony に refclock PHC /dev/ptp_hyperv (Azure ホスト) または承認済み NTP サーバーを設定し、"
        "Windows は w32time を VM IC Time Synchronization Provider または承認済み NTP サーバーに同期させる。"
        "時刻同期を監査するマシン構成パッケージを全 VM に割り当てる"
    ),
    remediation_en=(
        "On Linux configure chrony with refclock PHC /dev/ptp_hyperv (the Azure host) or an approved NTP server; "
        "on Windows synchronise w32time with the VM IC Time Synchronization Provider or an approved NTP server. "
        "Assign a machine configuration package that audits time synchronisation to every VM"
    ),
    thresholds=("max_clock_offset_ms", "time_sync_guest_configurations"),
)
def vm_time_sync_compliant(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    limit = thresholds.max_clock_offset_ms
    for vm, basis in _per_vm(facts, thresholds):
        if basis is None:
            yield _unseen(vm, thresholds)
            continue
        if basis.clock is None:
            yield _by_assignment(vm, basis.assignments, "時刻が同期している", "a synchronised clock")
            continue
        name, clock = display_name(vm), basis.clock
        reading = read_clock(clock)
        if reading is None:
            yield _unreadable(vm, clock)
        elif not reading.synchronised:
            yield failed(
                vm.resource_id,
                f"仮想マシン {name} ({reading.os}) の時刻が同期していません ({reading.state})。"
                "時刻サーバーへの同期が必要です",
                f"virtual machine {name} ({reading.os}): its clock is not synchronised ({reading.state}); "
                "synchronisation with a time server is required",
                vm,
                clock,
            )
        elif reading.offset_ms is None:
            yield errored(
                vm.resource_id,
                f"仮想マシン {name} ({reading.os}) の同期元 {reading.source} とのずれを出力から読み取れません",
                f"virtual machine {name} ({reading.os}): the offset from its source {reading.source} cannot be "
                "read from the output",
                vm,
                clock,
            )
        elif abs(reading.offset_ms) > limit:
            yield failed(
                vm.resource_id,
                f"仮想マシン {name} ({reading.os}) の時刻は同期元 {reading.source} から {reading.offset_ms:g} ms ずれて"
                f"います。{limit} ms 以内であることが必要です",
                f"virtual machine {name} ({reading.os}): its clock is {reading.offset_ms:g} ms off its source "
                f"{reading.source}; at most {limit} ms is required",
                vm,
                clock,
            )
        else:
            yield passed(
                vm.resource_id,
                f"仮想マシン {name} ({reading.os}) の時刻は {reading.source} に同期しており、ずれは "
                f"{reading.offset_ms:g} ms ({limit} ms 以内) です",
                f"virtual machine {name} ({reading.os}): its clock is synchronised with {reading.source}, "
                f"{reading.offset_ms:g} ms off (at most {limit} ms)",
                vm,
                clock,
            )


def approved(source: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch(source.lower(), p.strip().lower()) for p in patterns)


@check(
    id="vm-time-source-approved",
    title_ja="仮想マシンの時刻源が信頼できる",
    title_en="Virtual machines take time from a trusted source",
    judges=(VM_TYPE,),
    reads=(VIRTUAL_MACHINE, GUEST_CONFIGURATION_ASSIGNMENT, VM_CLOCK),
    per_subscription=True,  # a VM's guest configuration and clock lie under its id
    api=API,
    rule_ja=(
        "各 VM の時刻源が Azure ホストの時刻 (chrony の refclock PHC /dev/ptp_hyperv、Windows の VM IC Time "
        "Synchronization Provider) または approved_ntp_sources の NTP サーバーであること (Run Command で読む)。"
        "Run Command を使わない場合は時刻同期のマシン構成割り当て (time_sync_guest_configurations) が Compliant"
    ),
    rule_en=(
        "Each VM takes its time from the Azure host clock (chrony refclock PHC /dev/ptp_hyperv, Windows VM IC "
        "Time Synchronization Provider) or an NTP server in approved_ntp_sources (read with Run Command). Without "
        "Run Command, its time-sync machine configuration assignment (time_sync_guest_configurations) is Compliant"
    ),
    remediation_ja=(
        "chrony / w32time の同期元を Azure ホストの時刻または承認済みの NTP サーバー (NICT、time.windows.com など) "
        "に限定する。別の信頼できる機関を使う場合は approved_ntp_sources に加える"
    ),
    remediation_en=(
        "Limit chrony / w32time to the Azure host clock or approved NTP servers (NICT, time.windows.com, ...); to "
        "use another trusted authority, add it to approved_ntp_sources"
    ),
    thresholds=("approved_ntp_sources", "time_sync_guest_configurations"),
)
def vm_time_source_approved(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    allowed = thresholds.approved_ntp_sources
    listed = ", ".join(allowed)
    for vm, basis in _per_vm(facts, thresholds):
        if basis is None:
            yield _unseen(vm, thresholds)
            continue
        if basis.clock is None:
            yield _by_assignment(vm, basis.assignments, "承認された時刻源に同期している", "an approved time source")
            continue
        name, clock = display_name(vm), basis.clock
        reading = read_clock(clock)
        if reading is None or (reading.synchronised and not reading.source):
            yield _unreadable(vm, clock)
        elif not reading.synchronised:
            yield failed(
                vm.resource_id,
                f"仮想マシン {name} ({reading.os}) は時刻源に同期していません ({reading.state})。Azure ホストの時刻"
                f"または承認済み NTP サーバー ({listed}) が必要です",
                f"virtual machine {name} ({reading.os}): it takes time from no source ({reading.state}); the Azure "
                f"host clock or an approved NTP server ({listed}) is required",
                vm,
                clock,
            )
        elif reading.host_clock:
            yield passed(
                vm.resource_id,
                f"仮想マシン {name} ({reading.os}) の時刻源は {HOST_CLOCK[0]} です ({reading.source})",
                f"virtual machine {name} ({reading.os}): its time source is {HOST_CLOCK[1]} ({reading.source})",
                vm,
                clock,
            )
        elif reading.source and approved(reading.source, allowed):
            yield passed(
                vm.resource_id,
                f"仮想マシン {name} ({reading.os}) の時刻源 {reading.source} は承認済み NTP サーバー ({listed}) です",
                f"virtual machine {name} ({reading.os}): its time source {reading.source} is an approved NTP "
                f"server ({listed})",
                vm,
                clock,
            )
        else:
            yield failed(
                vm.resource_id,
                f"仮想マシン {name} ({reading.os}) の時刻源 {reading.source} は承認されていません。{HOST_CLOCK[0]}"
                f"または承認済み NTP サーバー ({listed}) が必要です",
                f"virtual machine {name} ({reading.os}): its time source {reading.source} is not approved; "
                f"{HOST_CLOCK[1]} or an approved NTP server ({listed}) is required",
                vm,
                clock,
            )
