"""Answers the PIA can give itself: from the system manifest (assets, flows,
jurisdictions, hosting) and from the newest evidence of the privacy checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Evidence, Verdict
from bastion.core.workspace import Workspace
from bastion.manifest import AutonomyLevel, PiiCategory, SystemManifest

__all__ = ["Prefill", "prefill"]


@dataclass(frozen=True)
class Prefill:
    answer: Any  # "yes" / "no", a list, text, or None (unknown: no evidence)
    basis: str  # where it came from, for the report
    evidence_id: str | None = None
    action: str | None = None  # what to do when it is unknown


_REGIONS = (("eu", "EU"), ("europe", "EU"), ("frankfurt", "EU"), ("us-", "US"),
            ("us", "US"), ("uk", "GB"), ("ap-", "APAC"), ("asia", "APAC"))  # fmt: skip
_EU = {"EU", "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU",
       "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"}  # fmt: skip


def _region(text: str | None) -> str | None:
    t = (text or "").strip().lower()
    for prefix, region in _REGIONS:
        if t.startswith(prefix) or f" {prefix}" in f" {t}":
            return region
    return None


def _pii(m: SystemManifest) -> dict[str, list[str]]:
    return {a.id: [c.value for c in a.pii_categories if c is not PiiCategory.NONE]
            for a in m.assets if any(c is not PiiCategory.NONE for c in a.pii_categories)}  # fmt: skip


def _manifest(m: SystemManifest, key: str) -> Prefill:
    pii = _pii(m)
    flows = [f for f in m.flows if f.source in pii or f.target in pii]
    if key == "pii_assets":
        return Prefill([f"{a}: {', '.join(c)}" for a, c in pii.items()], "manifest: assets")
    if key == "special_categories":
        special = sorted({c for cs in pii.values() for c in cs
                          if PiiCategory(c).special_category
                          or c in ("government_id", "children")})  # fmt: skip
        return Prefill("yes" if special else "no",
                       f"manifest: {', '.join(special) or 'no such category'}")  # fmt: skip
    if key == "pii_flows":
        return Prefill([f"{f.id}: {f.source} -> {f.target}" for f in flows], "manifest: flows")
    if key == "flows_encrypted":
        bad = [f.id for f in flows if not f.encryption.in_transit]
        return Prefill("no" if bad else "yes",
                       f"manifest: unencrypted {', '.join(bad)}" if bad
                       else f"manifest: {len(flows)} flow(s) encrypted in transit")  # fmt: skip
    if key == "jurisdictions":
        return Prefill(list(m.system.jurisdictions), "manifest: system.jurisdictions")
    if key == "cross_border":
        home = {str(j) for j in m.system.jurisdictions}
        home_regions = {"EU" if j in _EU else j for j in home}
        outside = []
        for a in m.assets:
            if a.id in pii and a.hosting is not None:
                r = _region(a.hosting.region)
                if r is not None and r not in home_regions:
                    outside.append(f"{a.id} ({a.hosting.region})")
        return Prefill("yes" if outside else "no",
                       f"manifest: hosted outside {', '.join(sorted(home)) or '?'}: "
                       + (", ".join(outside) if outside else "none"))  # fmt: skip
    if key == "human_oversight":
        hil = m.system.autonomy_level is AutonomyLevel.HUMAN_IN_THE_LOOP
        return Prefill("yes" if hil else "no",
                       f"manifest: autonomy_level {m.system.autonomy_level.value}")  # fmt: skip
    raise KeyError(key)


def _latest(ws: Workspace, check: str) -> Evidence | None:
    found = ws.evidence.list(EvidenceQuery(check_id=check, limit=1))
    return found[0] if found else None


_EVIDENCE: dict[str, tuple[tuple[str, ...], Callable[[Evidence], bool], str, str]] = {
    # key: (check ids, the rule for "yes", what "yes" means, the command that produces it)
    "privacy.pii_scan": (("privacy.pii_scan",), lambda e: e.verdict is not Verdict.FAIL,
                         "scanned, no credentials", "bastion data scan DATASET --record"),
    "privacy.masking": (("privacy.masking",), lambda e: not e.data.get("allowed_unmasked"),
                        "masked, no PII column left unmasked", "bastion data mask"),
    "privacy.minimization": (
        ("privacy.minimization",),
        lambda e: not e.data.get("removable_pii") and not e.data.get("unused_pii"),
        "no removable or unused PII", "bastion data minimize"),
    "privacy.dp": (("privacy.dp_budget", "privacy.dp_training", "privacy.dp_release"),
                   lambda e: e.verdict in (Verdict.PASS, Verdict.WARN),
                   "within a DP budget", "bastion privacy budget set / train / release"),
    "data.validation": (("data.validation",), lambda e: bool(e.data.get("passed")),
                        "the latest batch passed", "bastion data validate"),
    "privacy.retention": (
        ("privacy.retention",),
        lambda e: not e.data.get("unmanaged") and not e.data.get("overdue"),
        "every item has a policy, nothing overdue", "bastion data retention apply"),
    "privacy.erasure": (("privacy.erasure",), lambda e: not e.data.get("dry_run"),
                        "an erasure request was carried out", "bastion data retention erase"),
}  # fmt: skip


def _evidence(ws: Workspace, key: str) -> Prefill:
    checks, ok, meaning, command = _EVIDENCE[key]
    found = [e for e in (_latest(ws, c) for c in checks) if e is not None]
    if not found:
        return Prefill(None, f"no {' / '.join(checks)} evidence", action=f"run: {command}")
    e = max(found, key=lambda x: x.created_at)
    yes = ok(e)
    return Prefill("yes" if yes else "no",
                   f"{e.check_id} {e.verdict.value} ({e.created_at:%Y-%m-%d}): "
                   + (meaning if yes else f"not {meaning}"), e.id)  # fmt: skip


def prefill(ws: Workspace | None, m: SystemManifest, source: str) -> Prefill:
    kind, _, key = source.partition(".")
    if kind == "manifest":
        return _manifest(m, key)
    if ws is None:
        return Prefill(None, "no workspace: evidence not read")
    return _evidence(ws, key)
