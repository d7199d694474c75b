"""The privacy room's step of ``bastion demo``: scan the example's applicant data for PII,
mask a non-production copy with a policy drawn from the scan, and make one DP release
under a budget. Three pieces of evidence and their lineage land in the ledger."""

from __future__ import annotations

import csv
from pathlib import Path

from bastion.core.errors import InputError
from bastion.core.workspace import Workspace
from bastion.privacy.deid import mask_file, parse_policy
from bastion.privacy.dp import make_query, release, set_budget
from bastion.privacy.pii import PiiScanCheck, record_scan

__all__ = ["demo_step"]

#: The operator for each entity type found (keyed hash keeps joins; dates to the year).
_OPERATORS = {
    "EMAIL_ADDRESS": "{operator: hash}",
    "DATE_OF_BIRTH": "{operator: generalize, to: year}",
    "US_ZIP_CODE": "{operator: generalize, keep: 3}",
    "POSTAL_CODE": "{operator: generalize, keep: 3}",
    "PHONE_NUMBER": "{operator: mask, keep_last: 2}",
    "CREDIT_CARD": "{operator: mask, keep_last: 4}",
}
_DEFAULT = "{operator: hash}"
#: The example's own identifiers: made-up formats (``SYN-...``) that no validated
#: recognizer accepts, so the scan cannot see them; the copy hashes them all the same.
_IDENTIFIERS = ("applicant_id", "national_id")


def demo_step(ws: Workspace, data_dir: Path, *, actor: str = "demo") -> str:
    """Scan ``data_dir/applicants.csv``, mask it to ``applicants.masked.csv`` and release
    a DP mean income; returns the demo's one line."""
    src = data_dir / "applicants.csv"
    if not src.is_file():
        raise InputError(f"{src}: the example's applicant data has not been generated")
    scan_ev = record_scan(ws, path=src, ref="credit-scoring/applicants", actor=actor)
    scan = PiiScanCheck.read(scan_ev)
    pii = [c for c in scan.columns if c.pii]
    rules = {c.column: _OPERATORS.get(c.entity or "", _DEFAULT) for c in pii}
    names = {c.column for c in scan.columns}
    rules |= {c: _DEFAULT for c in _IDENTIFIERS if c in names and c not in rules}
    text = "".join(f"  {col}: {rule}\n" for col, rule in rules.items())
    policy = parse_policy(f"columns:\n{text}", "demo masking policy")
    masked = mask_file(src, policy, data_dir / "applicants.masked.csv", ws=ws, actor=actor,
                       input_label="credit-scoring/applicants")  # fmt: skip
    with src.open(newline="", encoding="utf-8") as f:
        incomes = [float(r["income"]) for r in csv.DictReader(f)]
    dataset = "credit-scoring/applicants"
    set_budget(ws, dataset, epsilon=1.0, delta=1e-6, actor=actor)
    q = make_query("mean", epsilon=0.5, lower=0.0, upper=250_000.0)
    r = release(ws, dataset, incomes, q, column="income", actor=actor)
    return (
        f"{len(pii)} PII columns ({', '.join(sorted({c.entity or '?' for c in pii}))}); "
        f"{masked.rows:,} rows x {len(masked.columns)} columns masked; "
        f"DP mean income {float(r.value):,.0f} "
        f"(epsilon {r.spent_epsilon:.3g} of {r.budget_epsilon:g} spent)"
    )
