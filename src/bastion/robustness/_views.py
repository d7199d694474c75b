"""What the API and the console show of the room's evidence: the latest robustness
evidence per model, one evidence's charts, and a campaign document validated without
running it. Read-only; charts are re-rendered from the evidence data (the curve, the
certified-radius histogram) or read from the evidence's own attachment (the
membership-inference ROC, whose points the data does not keep)."""

from __future__ import annotations

from typing import Any

from bastion.core.errors import NotFoundError
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Evidence
from bastion.core.workspace import Workspace

__all__ = [
    "EVIDENCE_KINDS",
    "evidence_charts",
    "latest_by_model",
    "robustness_evidence",
    "validate_campaign_text",
]

#: check id -> the short name the views use
EVIDENCE_KINDS: dict[str, str] = {
    "robustness.evaluation": "evaluation",
    "robustness.campaign": "campaign",
    "robustness.membership": "membership",
    "robustness.defenses": "defenses",
    "robustness.detector": "detector",
}
_SCAN = 1000  # evidence rows read per check (newest first)


def _headline(e: Evidence) -> dict[str, Any]:
    d = e.data
    kind = EVIDENCE_KINDS[e.check_id]
    out: dict[str, Any] = {
        "id": e.id,
        "check_id": e.check_id,
        "verdict": e.verdict.value,
        "created_at": e.created_at.isoformat(),
    }
    if kind == "evaluation":
        out |= {
            "attack": d.get("attack"),
            "clean_accuracy": d.get("clean_accuracy"),
            "robust_accuracy": d.get("robust_accuracy"),
            "eps": (d.get("eps") or [None])[-1],
            "valid": d.get("valid"),
        }
    elif kind == "campaign":
        metrics = d.get("metrics") or {}
        out |= {
            "campaign": d.get("campaign"),
            "robust_accuracy": {
                a: m.get("robust_accuracy") for a, m in metrics.items() if isinstance(m, dict)
            },
            "invalid": list(d.get("invalid") or ()),
            "failures": list(d.get("failures") or ()),
        }
    elif kind == "membership":
        out |= {"attack": d.get("attack"), "auc": d.get("auc"), "tpr_at": d.get("tpr_at")}
    elif kind == "defenses":
        rec = d.get("recommendation")
        out |= {"recommendation": rec.get("defense") if isinstance(rec, dict) else None}
    elif kind == "detector":
        out |= {"benign_fpr": d.get("benign_fpr"), "tpr_at": d.get("tpr_at")}
    return out


def latest_by_model(ws: Workspace) -> list[dict[str, Any]]:
    """One row per model (evidence subject): the latest evidence of each robustness kind,
    as headline fields; models in name order."""
    rows: dict[str, dict[str, Any]] = {}
    for check_id, kind in EVIDENCE_KINDS.items():
        for e in ws.evidence.list(EvidenceQuery(check_id=check_id, limit=_SCAN)):
            row = rows.setdefault(e.subject.ref, {"model": e.subject.ref})
            row.setdefault(kind, _headline(e))  # newest first: the first is the latest
    return [rows[k] for k in sorted(rows)]


def robustness_evidence(ws: Workspace, evidence_id: str) -> Evidence:
    """The evidence, if it is the room's; ``NotFoundError`` otherwise."""
    e = ws.evidence.get(evidence_id)
    if e.check_id not in EVIDENCE_KINDS:
        raise NotFoundError(f"evidence {evidence_id[:100]} is not robustness evidence")
    return e


def evidence_charts(ws: Workspace, e: Evidence) -> dict[str, str]:
    """The charts one piece of evidence has, as SVG text: ``curve`` (evaluations),
    ``radii`` (when certified), ``roc`` (membership inference)."""
    from bastion.robustness._charts import curve_svg, radius_histogram_svg
    from bastion.robustness.interface import CurvePoint

    d = e.data
    out: dict[str, str] = {}
    if e.check_id == "robustness.evaluation" and d.get("curve"):
        curve = [
            CurvePoint(
                float(p["eps"]),
                float(p["accuracy"]),
                float(p["success_rate"]),
                float(p["mean_perturbation"]),
                float(p["max_perturbation"]),
            )
            for p in d["curve"]
        ]
        title = f"{str(d.get('attack', '')).upper()} ({d.get('norm', '')}) on {e.subject.ref}"
        out["curve"] = curve_svg(
            curve, float(d.get("clean_accuracy", 0.0)), title=title, valid=bool(d.get("valid"))
        )
        cert = d.get("certification")
        if isinstance(cert, dict) and isinstance(cert.get("radius_histogram"), dict):
            out["radii"] = radius_histogram_svg(cert["radius_histogram"], float(cert["sigma"]))
    if e.check_id == "robustness.membership":
        blob = (d.get("attachments") or {}).get("membership-roc.svg")
        if isinstance(blob, str):
            out["roc"] = ws.blobs.get(blob).decode("utf-8")
    return out


def validate_campaign_text(text: bytes) -> dict[str, Any]:
    """A campaign document validated (no file is read, nothing runs): its shape, or
    ``InputError`` with the reason."""
    from bastion.robustness.campaign import parse_campaign

    c = parse_campaign(text)
    return {
        "valid": True,
        "name": c.name,
        "digest": c.digest,
        "targets": [{"id": t.id, "kind": "endpoint" if t.endpoint else "model"} for t in c.targets],
        "attacks": [{"id": a.id, "attack": a.attack, "eps": list(a.eps)} for a in c.attacks],
        "thresholds": [th.metric for th in c.thresholds],
        "tasks": len(c.targets) * len(c.attacks),
    }
