"""Authorization: Cedar policies, obligations, just-in-time grants, least privilege.

:class:`PolicyEngine` is the :class:`~bastion.access.interface.Authorizer` the guard calls:
policies parsed once and swapped atomically on change, deny by default, reasons and
merged obligations on every decision, JIT grants from the database, every decision
recorded (batched with :class:`LedgerRecorder`). See docs/access-policy.md.
"""

from bastion.access.policy._documents import Baselines
from bastion.access.policy._engine import GrantSource, PolicyEngine, merge_obligations
from bastion.access.policy._grants import (
    MAX_GRANT_DURATION,
    Grant,
    GrantIndex,
    approve_grant,
    deny_grant,
    get_grant,
    list_grants,
    parse_duration,
    parse_resource,
    request_grant,
    revoke_grant,
)
from bastion.access.policy._recorder import (
    DecisionRecorder,
    LedgerRecorder,
    NullRecorder,
    SyncRecorder,
)
from bastion.access.policy._review import AccessReview, least_privilege_report
from bastion.access.policy._service import (
    access_review,
    decide,
    decide_request,
    decision_dict,
    default_policy_dir,
    engine_for,
    resources_from_inventory,
)
from bastion.access.policy._store import (
    CLASSIFICATION_RANK,
    PolicySnapshot,
    PolicyStore,
    bundled_policy_dir,
    load_snapshot,
)
from bastion.access.policy._testing import PolicyTestReport, PolicyTestResult, run_policy_tests

__all__ = [
    "CLASSIFICATION_RANK",
    "MAX_GRANT_DURATION",
    "AccessReview",
    "Baselines",
    "DecisionRecorder",
    "Grant",
    "GrantIndex",
    "GrantSource",
    "LedgerRecorder",
    "NullRecorder",
    "PolicyEngine",
    "PolicySnapshot",
    "PolicyStore",
    "PolicyTestReport",
    "PolicyTestResult",
    "SyncRecorder",
    "access_review",
    "approve_grant",
    "bundled_policy_dir",
    "decide",
    "decide_request",
    "decision_dict",
    "default_policy_dir",
    "deny_grant",
    "engine_for",
    "get_grant",
    "least_privilege_report",
    "list_grants",
    "load_snapshot",
    "merge_obligations",
    "parse_duration",
    "parse_resource",
    "request_grant",
    "resources_from_inventory",
    "revoke_grant",
    "run_policy_tests",
]
