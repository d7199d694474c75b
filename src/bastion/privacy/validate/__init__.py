"""Training-data validation (issue 9 section 10): a YAML constraint file turned into a
pandera schema (types, ranges, categories, patterns, uniqueness), distribution limits
against a reference (the monitor room's PSI and KS / chi-square, label balance, near
duplicates) to catch poisoning and drift, recorded as ``data.validation`` evidence."""

from bastion.privacy.validate._checks import DataValidationCheck, DataValidationData
from bastion.privacy.validate._constraints import (
    ColumnRule,
    Constraints,
    DistributionRules,
    NearDuplicates,
    load_constraints,
    parse_constraints,
    to_pandera,
)
from bastion.privacy.validate._validate import (
    Frame,
    ValidationReport,
    read_frame,
    validate_file,
    validate_frame,
)

__all__ = [
    "ColumnRule",
    "Constraints",
    "DataValidationCheck",
    "DataValidationData",
    "DistributionRules",
    "Frame",
    "NearDuplicates",
    "ValidationReport",
    "load_constraints",
    "parse_constraints",
    "read_frame",
    "to_pandera",
    "validate_file",
    "validate_frame",
]
