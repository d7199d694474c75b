"""The privacy room's step of ``bastion demo``: scan the example's applicant data for PII,
mask a non-production copy with a policy drawn from the scan, and make one DP release
under a budget. Three pieces of evidence and their lineage land in the ledger."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from bastion.core.errors import InputError
from bastion.core.workspace import Workspace
from bastion.privacy.deid import mask_file, parse_policy
from bastion.privacy.dp import make_query, release, set_budget
from bastion.privacy.pii import PiiScanCheck, record_scan

__all__ = ["demo_step", "demo_story"]

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


_CONSTRAINTS = """\
name: credit-scoring-training
columns:
  age: {type: int, min: 18, max: 100}
  income: {type: float, min: 0, max: 1000000}
  debt_to_income: {type: float, min: 0, max: 5}
  default: {type: int, categories: [0, 1]}
distribution:
  columns: [age, income, debt_to_income]
  psi_max: 0.2
  alpha: 0.01
  label: default
  label_shift_max: 0.08
"""

_ANSWERS = """\
system: credit-scoring
attested_by: {name: Dana Meyer, role: DPO}
answers:
  lawful_basis: "GDPR Art. 6(1)(b): the loan contract; Art. 22(2)(a) with human review"
  dpo_consulted: yes
  transfer_mechanism: "EU SCCs (2021/914), module 2, with a transfer impact assessment"
  differential_privacy: yes
  validation: yes
  subject_rights: yes
"""


def demo_story(
    ws: Workspace,
    data_dir: Path,
    manifest: Path,
    say: Callable[[str, str], None],
    *,
    actor: str = "demo",
) -> dict[str, str]:
    """The rest of issue 9's demo, after :func:`demo_step`: a DP logistic model trained on
    the example's features under a recorded budget, a synthetic copy with its gate, a
    poisoned training batch refused, the lineage from the applicant data to the models,
    and the PIA. ``say(title, detail)`` prints one line each; returns the evidence ids."""
    import numpy as np

    from bastion.privacy.dp import train_dp_logistic
    from bastion.privacy.lineage import graph_svg, lineage_graph
    from bastion.privacy.pia import assess
    from bastion.privacy.synthetic import Thresholds, read_csv, synthesize
    from bastion.privacy.validate import validate_file

    out: dict[str, str] = {}
    feats = data_dir / "features.csv"
    table, digest = read_csv(feats)
    label = "default"
    cols = [c for c in table.columns if c.name != label]
    x = np.column_stack([c.values.astype(float) for c in cols])
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    y = np.asarray(table.column(label).values, dtype=float)
    dataset = "credit-scoring/features"
    set_budget(ws, dataset, epsilon=3.0, delta=1e-5, actor=actor)
    model, ev_id = train_dp_logistic(ws, dataset, x, y, epsilon=1.0, delta=1e-5,
                                     input_digest=digest, actor=actor, epochs=5)  # fmt: skip
    out["dp_training"] = ev_id
    acc = float(np.mean(np.asarray(model.predict(x)) == y))
    say(
        "Train a DP logistic model on the features (DP-SGD)",
        f"epsilon {model.epsilon:g}, delta {model.delta:g} of the dataset's 3.0 budget; "
        f"training accuracy {acc:.3f}; noise multiplier {model.noise_multiplier:.2f}",
    )

    small = table.take(np.arange(min(table.n_rows, 1200)))
    s = synthesize(ws, small, seed=1, thresholds=Thresholds(), source=feats.name, actor=actor)
    out["synthetic"] = s.evidence.id
    (data_dir / "features.synthetic.csv").write_bytes(s.table.to_csv())
    say(
        "Generate a synthetic copy and check it (Gaussian copula)",
        f"privacy.synthetic {s.evidence.verdict.value}: quality "
        f"{float(s.evidence.data.get('quality') or 0):.3f}, exact copies "
        f"{float(s.privacy.get('exact_copy_rate', 0)):.1%}, membership-inference AUC "
        f"{float(s.privacy.get('mia_auc') or 0):.3f}",
    )

    constraints = data_dir / "training-constraints.yaml"
    constraints.write_text(_CONSTRAINTS, encoding="utf-8")
    poisoned = data_dir / "features.poisoned.csv"
    rows = feats.read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    ii, il = header.index("income"), header.index(label)
    rng = np.random.default_rng(5)
    bad = [header]
    for line in rows[1:]:
        r = line.split(",")
        if rng.random() < 0.3:  # the attacker's share: inflated incomes, flipped labels
            r[ii] = f"{float(r[ii]) * 8:.2f}"
            r[il] = "0"
        bad.append(r)
    poisoned.write_text("\n".join(",".join(r) for r in bad) + "\n", encoding="utf-8")
    rep = validate_file(ws, poisoned, constraints, reference=feats, ref="credit-scoring/batch-7",
                        actor=actor)  # fmt: skip
    if rep.evidence is not None:
        out["validation"] = rep.evidence.id
    say(
        "Validate a poisoned training batch",
        f"data.validation {rep.verdict.value}: "
        + ("refused" if rep.verdict.value == "fail" else "NOT refused")
        + f" ({len(rep.data.schema_failures)} schema failures; drifted: "
        + (", ".join(rep.data.drifted) or "none")
        + (f"; label shift {rep.data.label_shift:.2f}" if rep.data.label_shift is not None else "")
        + ")",
    )

    g = lineage_graph(ws)
    (data_dir / "lineage.svg").write_text(graph_svg(g, "Lineage of the demo"), encoding="utf-8")
    sources = [n for n in g.nodes if "applicants" in n or "features" in n]
    downstream: set[str] = set()
    for n in sources:
        downstream |= set(lineage_graph(ws, n, direction="downstream").nodes) - {n}
    jobs = sorted({j for _s, _t, j in g.edges})
    say(
        "Lineage from the applicant data (OpenLineage)",
        f"{len(g.nodes)} datasets and models, {len(g.edges)} edges through "
        f"{', '.join(j.rpartition('.')[2] or j for j in jobs[:5])}; "
        f"{len(downstream)} downstream of the applicant and feature data; lineage.svg",
    )

    answers = data_dir / "pia-answers.yaml"
    answers.write_text(_ANSWERS, encoding="utf-8")
    a = assess(ws, manifest, answers, actor=actor)
    if a.evidence is not None:
        out["pia"] = a.evidence.id
    report = data_dir / "pia.md"
    report.write_text(
        f"# PIA of {a.system.system.id}\n\nrisk {a.level} (score {a.score})\n", encoding="utf-8"
    )
    say(
        "Write the privacy impact assessment",
        f"risk {a.level} (score {a.score}); {len(a.risks)} risk(s), "
        f"{len(a.open_actions)} open action(s); attested by {a.attested_by}; "
        f"manifest {a.manifest_digest[:19]}…",
    )
    return out
