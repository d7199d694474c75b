"""Data minimization (issue 9 section 4): which features a model needs (permutation and
drop-column importance with a bootstrap CI of the performance delta), which PII columns it
could do without, and a recommendation recorded as ``privacy.minimization`` evidence."""

from bastion.privacy.minimize._checks import (
    FeatureVerdictData,
    MinimizationCheck,
    MinimizationData,
)
from bastion.privacy.minimize._importance import (
    Importance,
    Metric,
    bootstrap_ci,
    drop_column_importance,
    permutation_importance,
)
from bastion.privacy.minimize._minimize import MinimizationReport, minimize

__all__ = [
    "FeatureVerdictData",
    "Importance",
    "Metric",
    "MinimizationCheck",
    "MinimizationData",
    "MinimizationReport",
    "bootstrap_ci",
    "drop_column_importance",
    "minimize",
    "permutation_importance",
]
