"""The governance room: ownership (RACI), people and roles with access reviews, boards and
change requests with votes, the escalation matrix and the two-person rule for privileged
changes. Every change is a ledger event.

Parts: ``_people`` (people, grants), ``_reviews`` (role transitions, access reviews),
``_raci``, ``_boards`` (boards, change requests, votes), ``_escalation``, ``_proposals``
(the two-person rule), ``_apply`` (the governance file), ``_config`` (its schema); the
hooks other rooms plug in are Protocols in ``interface``."""

from bastion.governance._apply import apply_config, apply_proposed_config
from bastion.governance._boards import (
    Board,
    ChangeRequest,
    CrStatus,
    VoteChoice,
    approved_change_request,
    conflicted_voters,
    create_change_request,
    get_board,
    get_change_request,
    list_boards,
    list_change_requests,
    register_conflict_check,
    tally,
    vote,
)
from bastion.governance._config import (
    MAX_CONFIG_BYTES,
    BoardSpec,
    Domain,
    Duty,
    EscalationMatrix,
    EscalationRule,
    GovernanceConfig,
    PersonSpec,
    RaciSpec,
    RoleSpec,
    load_config,
    parse_config,
    parse_duration,
)
from bastion.governance._escalation import (
    EscalationRoute,
    escalation_for,
    get_escalation_matrix,
    set_escalation_matrix,
)
from bastion.governance._people import Person, add_person, get_person, grant_access, list_people
from bastion.governance._proposals import (
    ChangeKind,
    Proposal,
    ProposalStatus,
    approve_change,
    get_proposal,
    list_proposals,
    propose_change,
    register_change_kind,
    reject_change,
)
from bastion.governance._raci import list_raci, raci_for, set_raci
from bastion.governance._reviews import (
    AccessReview,
    complete_access_review,
    list_access_reviews,
    start_access_review,
    transition_roles,
)
from bastion.governance.interface import ChangeApplier, ConflictCheck

__all__ = [
    "MAX_CONFIG_BYTES",
    "AccessReview",
    "Board",
    "BoardSpec",
    "ChangeApplier",
    "ChangeKind",
    "ChangeRequest",
    "ConflictCheck",
    "CrStatus",
    "Domain",
    "Duty",
    "EscalationMatrix",
    "EscalationRoute",
    "EscalationRule",
    "GovernanceConfig",
    "Person",
    "PersonSpec",
    "Proposal",
    "ProposalStatus",
    "RaciSpec",
    "RoleSpec",
    "VoteChoice",
    "add_person",
    "apply_config",
    "apply_proposed_config",
    "approve_change",
    "approved_change_request",
    "complete_access_review",
    "conflicted_voters",
    "create_change_request",
    "escalation_for",
    "get_board",
    "get_change_request",
    "get_escalation_matrix",
    "get_person",
    "get_proposal",
    "grant_access",
    "list_access_reviews",
    "list_boards",
    "list_change_requests",
    "list_people",
    "list_proposals",
    "list_raci",
    "load_config",
    "parse_config",
    "parse_duration",
    "propose_change",
    "raci_for",
    "register_change_kind",
    "register_conflict_check",
    "reject_change",
    "set_escalation_matrix",
    "set_raci",
    "start_access_review",
    "tally",
    "transition_roles",
    "vote",
]
