"""Synthetic data: a Gaussian-copula generator for mixed tables (numpy/scipy, no SDV),
a fidelity report (SDMetrics' quality-report definitions) and a privacy report (exact
copies, distance to closest record against a holdout, membership inference), with the
``privacy.synthetic`` gate that fails on low fidelity or copied / too-close records."""

from bastion.privacy.synthetic._checks import (
    Synthesis,
    SyntheticCheck,
    SyntheticData,
    Thresholds,
    evaluate_synthetic,
    synthesize,
)
from bastion.privacy.synthetic._copula import GaussianCopula, fit_copula
from bastion.privacy.synthetic._reports import (
    FidelityReport,
    PrivacyReport,
    fidelity_report,
    privacy_report,
)
from bastion.privacy.synthetic._table import Column, ColumnKind, Table, parse_csv, read_csv

__all__ = [
    "Column",
    "ColumnKind",
    "FidelityReport",
    "GaussianCopula",
    "PrivacyReport",
    "Synthesis",
    "SyntheticCheck",
    "SyntheticData",
    "Table",
    "Thresholds",
    "evaluate_synthetic",
    "fidelity_report",
    "fit_copula",
    "parse_csv",
    "privacy_report",
    "read_csv",
    "synthesize",
]
