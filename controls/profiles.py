"""Guideline profiles: which bar a passing finding is held to.

Checks judge the 2012 reading and state, on a passing finding, any higher bar the resource falls short of
(`Finding.short_of`, e.g. "tls1.3" for a TLS 1.2 minimum). The profile decides what that means:

- `meti2012` — the 2012 METI guideline's bar: such findings pass as they are.
- `mhlw6` (default) — MHLW guideline 6.0's bar: システム運用編 13 asks for TLS 1.3 with client certificates
  and allows TLS 1.2 only where 1.3 is difficult, so a TLS 1.2 minimum passes only when a valid
  attestation covering the finding's requirement records that justification (`justifies: [tls1.2]`);
  otherwise the finding fails and says 1.3 is expected.

The wording of that 遵守事項 is not confirmed from the final 6.0 text (see frameworks/mhlw-6.0.yaml,
シス13:tls1.3); the finding's reason says which reference it rests on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from controls.attestations import Attestation
from controls.model import Finding, Status

METI2012 = "meti2012"
MHLW6 = "mhlw6"
PROFILES = (METI2012, MHLW6)
DEFAULT_PROFILE = MHLW6


@dataclass(frozen=True)
class Bar:
    justification: str  # the attestation `justifies` value that accepts falling short of it
    reference: str  # the frameworks/mhlw-6.0.yaml id it rests on
    expected_ja: str
    expected_en: str


# The bars the mhlw6 profile holds passing findings to, by the name checks report them short of.
MHLW6_BARS = {
    "tls1.3": Bar(
        justification="tls1.2",
        reference="シス13:tls1.3",
        expected_ja="厚労省ガイドライン 6.0（システム運用編 13、遵守事項の文言は未確認）は TLS 1.3 と"
        "クライアント証明書を求め、TLS 1.2 は 1.3 が困難な場合のみ。"
        "TLS 1.2 とする理由をアテステーション（justifies: tls1.2）で記録すること",
        expected_en="MHLW guideline 6.0 (システム運用編 13; the 遵守事項's wording is not confirmed) expects TLS 1.3 "
        "with client certificates, TLS 1.2 only where 1.3 is difficult: record why as an attestation "
        "(justifies: tls1.2)",
    ),
}


def apply_profile(
    findings: list[Finding], profile: str, justifications: list[tuple[Attestation, date]]
) -> list[Finding]:
    """The findings as the profile judges them; `justifications` are the run's attestations with a
    `justifies` value, each with the day it is judged on."""
    if profile not in PROFILES:
        raise ValueError(f"unknown guideline profile {profile!r} (known: {', '.join(PROFILES)})")
    out = []
    for f in findings:
        if profile == METI2012 or f.status != Status.PASS or not f.short_of:
            out.append(replace(f, short_of=()) if f.short_of else f)  # findings are frozen: no copy needed
            continue
        out.append(_held_to_bars(f, justifications))
    return out


def _held_to_bars(f: Finding, justifications: list[tuple[Attestation, date]]) -> Finding:
    unmet = []
    accepted = []
    for name in f.short_of:
        bar = MHLW6_BARS.get(name)
        if bar is None:
            continue  # a bar this profile does not hold findings to
        valid = [
            a
            for a, on in justifications
            if bar.justification in a.justifies and set(a.requirements) & set(f.requirements) and a.state(on) == "valid"
        ]
        if valid:
            accepted.append((bar, valid))
        else:
            unmet.append(bar)
    if unmet:
        return replace(
            f,
            status=Status.FAIL,
            reason_ja=f"{f.reason_ja} — " + "; ".join(b.expected_ja for b in unmet),
            reason_en=f"{f.reason_en} — " + "; ".join(b.expected_en for b in unmet),
            short_of=(),
        )
    if accepted:
        names_ja = "; ".join(
            f"{a.id}（{a.owner}、{a.valid_until} まで）: {a.statement_ja}" for _, v in accepted for a in v
        )
        names_en = "; ".join(
            f"{a.id} ({a.owner}, until {a.valid_until}): {a.statement_en}" for _, v in accepted for a in v
        )
        return replace(
            f,
            reason_ja=f"{f.reason_ja} — 厚労省ガイドライン 6.0 の水準に届かないが理由を記録済: {names_ja}",
            reason_en=f"{f.reason_en} — short of the MHLW 6.0 bar, justified by attestation {names_en}",
            short_of=(),
        )
    return replace(f, short_of=())
