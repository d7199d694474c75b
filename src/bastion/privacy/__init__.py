"""Data protection and privacy for AI workflows (curriculum module 3, issue 9).

Parts, each a sub-package with its own public face re-exported here:
``pii`` (detection in text and tables), ``deid`` (de-identification operators, token vault,
format-preserving encryption, masking of non-production copies), ``dp`` (privacy budgets,
DP aggregates, DP training plans) and ``synthetic`` (Gaussian-copula generator with
fidelity and privacy reports). Every operation is a check or a recorded transformation
whose evidence lands in the ledger.
"""

from __future__ import annotations

__all__: list[str] = []

# --- pii and deid (issue 9 sections 1-3) ---
from bastion.privacy import deid, pii
from bastion.privacy.deid import MaskingCheck, TokenVault, mask_file
from bastion.privacy.pii import PiiScanCheck, analyze_text, scan_file, scan_table

__all__ += [
    "MaskingCheck",
    "PiiScanCheck",
    "TokenVault",
    "analyze_text",
    "deid",
    "mask_file",
    "pii",
    "scan_file",
    "scan_table",
]

# --- dp and synthetic (issue 9 sections 5-6) ---
from bastion.privacy import dp, synthetic  # noqa: E402
from bastion.privacy.dp import (  # noqa: E402
    BudgetExceededError,
    DpBudgetCheck,
    DpReleaseCheck,
    DpTrainingCheck,
    budget_status,
    plan,
    release,
    set_budget,
    train_dp_logistic,
)
from bastion.privacy.synthetic import SyntheticCheck, fit_copula, synthesize  # noqa: E402

__all__ += [
    "BudgetExceededError",
    "DpBudgetCheck",
    "DpReleaseCheck",
    "DpTrainingCheck",
    "SyntheticCheck",
    "budget_status",
    "dp",
    "fit_copula",
    "plan",
    "release",
    "set_budget",
    "synthesize",
    "synthetic",
    "train_dp_logistic",
]

# --- minimization (issue 9 section 4) ---
from bastion.privacy import minimize  # noqa: E402
from bastion.privacy.minimize import MinimizationCheck  # noqa: E402

__all__ += ["MinimizationCheck", "minimize"]

# --- training-data validation (issue 9 section 10) ---
from bastion.privacy import validate  # noqa: E402
from bastion.privacy.validate import DataValidationCheck, validate_file  # noqa: E402

__all__ += ["DataValidationCheck", "validate", "validate_file"]

# --- lineage (issue 9 section 8) ---
from bastion.privacy import lineage  # noqa: E402
from bastion.privacy.lineage import lineage_graph, lineage_run, record_lineage  # noqa: E402

__all__ += ["lineage", "lineage_graph", "lineage_run", "record_lineage"]

# --- retention (issue 9 section 7) ---
from bastion.privacy import retention  # noqa: E402
from bastion.privacy.retention import apply_retention, erase_subject  # noqa: E402

__all__ += ["apply_retention", "erase_subject", "retention"]

# --- privacy impact assessment (issue 9 section 9) ---
from bastion.privacy import pia  # noqa: E402
from bastion.privacy.pia import PiaCheck, assess  # noqa: E402

__all__ += ["PiaCheck", "assess", "pia"]

# --- the demo's privacy step (bastion demo) ---
from bastion.privacy._demo import demo_step, demo_story  # noqa: E402

__all__ += ["demo_step", "demo_story"]
