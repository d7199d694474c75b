"""The governance room's hooks: what other rooms plug in, as Protocols.

Governance decides change requests and applies approved proposals, but the knowledge of
who has a conflict of interest in a target (a model version's authors), and of what an
approved change of a kind does (a gate policy), lives in other rooms. Those rooms offer a
function of one of these shapes; :func:`bastion.wiring.wire` registers them, once, when a
workspace is opened. No room registers itself by being imported.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any, Protocol

from bastion.core.workspace import Workspace

__all__ = ["ChangeApplier", "ChangeKind", "ConflictCheck"]


class ChangeKind(enum.StrEnum):
    """The kinds of privileged change that go through the two-person rule."""

    GATE_POLICY = "gate_policy"
    GOVERNANCE_CONFIG = "governance_config"


class ConflictCheck(Protocol):
    """Who has a conflict of interest in a change request's target (``NAME@VERSION``,
    pinned to ``digest`` when known): the people it names may not vote on the request.
    A check that knows nothing about the target returns nothing."""

    def __call__(self, ws: Workspace, target: str, digest: str | None, /) -> Iterable[str]: ...


class ChangeApplier(Protocol):
    """What an approved change of one :class:`ChangeKind` does: apply ``body`` as ``actor``
    with the ``approval`` record (proposal id, proposer, approver) and return a JSON summary
    of what changed. Raising leaves nothing changed; the proposal is marked failed."""

    def __call__(
        self, ws: Workspace, body: dict[str, Any], actor: str, approval: dict[str, Any], /
    ) -> dict[str, Any]: ...
