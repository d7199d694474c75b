"""Every error Bastion raises on purpose is drawn in ``core/errors.py``'s tree (issue 13)."""

from __future__ import annotations

import importlib
import pkgutil

import bastion
from bastion.core import errors


def _subclasses(cls: type) -> set[type]:
    out: set[type] = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


def test_every_room_error_is_in_the_drawn_tree() -> None:
    for mod in pkgutil.walk_packages(bastion.__path__, "bastion."):
        if mod.name.endswith("__main__") or ".migrations." in mod.name:
            continue
        importlib.import_module(mod.name)
    tree = errors.__doc__ or ""
    found = {c for c in _subclasses(errors.BastionError) if c.__module__.startswith("bastion.")}
    assert len(found) >= 20
    missing = sorted(
        f"{c.__module__}.{c.__name__}"
        for c in found
        if not c.__name__.startswith("_") and f"── {c.__name__} " not in tree
    )
    assert missing == []


def test_each_drawn_room_error_names_its_parent_correctly() -> None:
    """The tree is not decoration: a drawn child sits under its real base class."""
    from bastion.monitor.interface import SinkError, SpoolFullError
    from bastion.privacy.dp._budget import BudgetExceededError

    assert issubclass(SpoolFullError, SinkError)
    assert issubclass(BudgetExceededError, errors.ConflictError)
