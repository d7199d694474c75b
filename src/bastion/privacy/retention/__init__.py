"""Retention (issue 9 section 7): policies per artifact kind and data category (period,
legal basis, delete or anonymize at expiry, jurisdiction), legal holds, a sweep with a
dry run whose every disposal is a proof in the ledger (``privacy.retention`` evidence),
and erasure requests joined through vault tokens and keyed hashes
(``privacy.erasure``)."""

from bastion.privacy.retention._checks import (
    ErasureCheck,
    ErasureData,
    RetentionCheck,
    RetentionData,
)
from bastion.privacy.retention._erasure import ErasureResult, erase_subject, subject_hash
from bastion.privacy.retention._policy import (
    ArtifactKind,
    RetentionAction,
    RetentionPolicies,
    RetentionPolicy,
    load_policies,
    parse_policies,
)
from bastion.privacy.retention._retention import (
    Item,
    PlanEntry,
    RetentionRun,
    RetentionStatus,
    apply_retention,
    list_items,
    plan_retention,
    register_item,
    release_hold,
    retention_status,
    set_hold,
)
from bastion.privacy.retention._rows import ErasureRequestRow, RetentionItemRow

__all__ = [
    "ArtifactKind",
    "ErasureCheck",
    "ErasureData",
    "ErasureRequestRow",
    "ErasureResult",
    "Item",
    "PlanEntry",
    "RetentionAction",
    "RetentionCheck",
    "RetentionData",
    "RetentionItemRow",
    "RetentionPolicies",
    "RetentionPolicy",
    "RetentionRun",
    "RetentionStatus",
    "apply_retention",
    "erase_subject",
    "list_items",
    "load_policies",
    "parse_policies",
    "plan_retention",
    "register_item",
    "release_hold",
    "retention_status",
    "set_hold",
    "subject_hash",
]
