"""One way to read a user's YAML document into a pydantic model.

Every room that takes a policy, catalog or configuration file (gate policies, control
catalogs, the governance file, masking policies) reads it here: size-limited before
parsing, the safe loader only, YAML aliases refused (a small document must not expand
into a huge one when validated), the top level a mapping, and an ``InputError`` naming
the document and the position of the first problem. Errors never echo the document's
values: a YAML error gives its line and the parser's description, a validation error
the field's path and pydantic's message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from bastion.core.errors import InputError

__all__ = ["dotted", "load_document", "parse_yaml"]

M = TypeVar("M", bound=BaseModel)


def dotted(loc: tuple[int | str, ...], raw: Any) -> str:
    """The default position of a validation error: ``tiers.1.stages.production``."""
    return ".".join(str(p) for p in loc) or "(top level)"


def parse_yaml(text: str | bytes, what: str) -> Any:
    """``text`` parsed with the safe loader, aliases refused (the caller bounds its size)."""
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.AliasEvent):
                raise InputError(f"{what}: YAML aliases (*name) are not allowed; write values out")
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise InputError(f"{what} is not valid YAML{line}: {problem}") from None


def load_document(
    text: str | bytes,
    model: type[M],
    *,
    what: str,
    max_bytes: int,
    shape: str = "a mapping",
    locate: Callable[[tuple[int | str, ...], Any], str] = dotted,
) -> M:
    """``text`` validated as ``model``.

    ``what`` names the document in every error; ``max_bytes`` bounds its encoded size;
    ``shape`` says what the top level must be (``"a mapping with kind: GatePolicy"``);
    ``locate`` turns a validation error's location into a readable position (given the
    parsed document, e.g. to name a list item by its id).
    """
    size = len(text.encode() if isinstance(text, str) else text)
    if size > max_bytes:
        raise InputError(f"{what} is larger than {max_bytes} bytes")
    raw = parse_yaml(text, what)
    if not isinstance(raw, dict):
        raise InputError(f"{what} must be {shape}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        e = errors[0]
        more = f" ({len(errors)} problem(s) in all)" if len(errors) > 1 else ""
        raise InputError(f"{what}: {locate(tuple(e['loc']), raw)}: {e['msg']}{more}") from None
