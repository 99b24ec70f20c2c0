"""The Defender for Cloud recommendations (assessment keys) the VM checks judge.

Shared by the collector (which keeps only these assessments, and the sub-assessments of the findings one, from
the subscription-wide listings) and the checks (which judge them), so the two cannot disagree. Keys are the
names of `{resource}/providers/Microsoft.Security/assessments/{key}`; sources are Microsoft's recommendation
reference (defender-for-cloud/recommendations-reference.md, the assessmentKey in each recommendation's link) and
release notes (defender-for-cloud/release-notes-archive.md: "From August 2020" keys for vulnerability assessment).
"""

# "Machines should have a vulnerability assessment solution" (formerly "A vulnerability assessment solution
# should be enabled on your virtual machines"): Healthy when Defender Vulnerability Management or another VA
# solution scans the machine.
VA_SOLUTION = "ffff0522-1e88-47fc-8382-2a80ba848f5d"
# "Machines should have vulnerability findings resolved" (formerly "Vulnerabilities in your virtual machines
# should be remediated"): one sub-assessment per finding, with status.severity.
VA_FINDINGS = "1195afff-c881-495e-9bc5-1486211ae03f"
# "EDR configuration issues should be resolved on virtual machines" (agentless, Defender for Servers Plan 1 or 2):
# Unhealthy when scans are older than seven days, signatures are out of date or the antivirus is off.
EDR_CONFIGURATION = "dc5357d0-3858-4d17-a1a3-072840bff5be"

KEPT_ASSESSMENTS = frozenset({VA_SOLUTION, VA_FINDINGS, EDR_CONFIGURATION})
ASSESSMENT_NAMES = {
    VA_SOLUTION: "Machines should have a vulnerability assessment solution",
    VA_FINDINGS: "Machines should have vulnerability findings resolved",
    EDR_CONFIGURATION: "EDR configuration issues should be resolved on virtual machines",
}


def assessment_key_of(resource_id: str) -> str | None:
    """`.../providers/Microsoft.Security/assessments/{key}[/subAssessments/{id}]` -> key (lower-cased)."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    for i in range(len(parts) - 2):
        if lowered[i] == "microsoft.security" and lowered[i + 1] == "assessments":
            return lowered[i + 2]
    return None


def assessed_resource(resource_id: str) -> str:
    """The resource an assessment or sub-assessment id is attached to (lower-cased, no trailing slash)."""
    lowered = resource_id.rstrip("/").lower()
    marker = "/providers/microsoft.security/assessments/"
    return lowered.split(marker, 1)[0] if marker in lowered else lowered
