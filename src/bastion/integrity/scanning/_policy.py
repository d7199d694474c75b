"""What an imported global means: safe, suspicious or dangerous.

Allowlist first: exact ``module.name`` data reconstructors shipped as package data, plus
what the user adds per model. Then the denylist: code-execution and file/network gadgets
by module prefix, and exact globals. Anything else is suspicious, named. The user cannot
allowlist a denylisted global: that would turn the scanner off for the one thing it is for.
"""

from __future__ import annotations

import _compat_pickle
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from bastion.core.errors import InputError
from bastion.integrity.interface import ScanVerdict

__all__ = ["GlobalPolicy", "load_allowlist", "shipped_policy"]

_MAX_ALLOW_BYTES = 1 << 20
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")

# Attribute hops that reach code or interpreter internals from any object.
_DANGEROUS_ATTRS = frozenset(
    {
        "__globals__",
        "__builtins__",
        "__subclasses__",
        "__code__",
        "__import__",
        "__loader__",
        "__spec__",
        "__dict__",
        "__getattribute__",
        "__reduce__",
        "__reduce_ex__",
        "__class__",
        "__bases__",
        "__base__",
        "__mro__",
        "__self__",
        "__func__",
        "__closure__",
        "__call__",
        "__init__",
        "__new__",
        "system",
        "popen",
        "eval",
        "exec",
        "compile",
        "getattr",
        # Keras models pickle as Model._unpickle_model, which loads the .keras bytes
        # with safe_mode=False (Lambda layers run).
        "_unpickle_model",
    }
)


def normalize_module(module: str) -> str:
    """Python 2 module names as the unpickler maps them (``__builtin__`` -> ``builtins``)."""
    return _compat_pickle.IMPORT_MAPPING.get(module, module)


@dataclass(frozen=True)
class GlobalPolicy:
    allow: frozenset[str]
    deny_modules: tuple[str, ...]
    deny_globals: frozenset[str]
    # Ordinary Keras objects (``module.ClassName`` as config.json names them) and the
    # function names Keras resolves from its own modules for ``"module": "builtins"``.
    keras_allow: frozenset[str] = frozenset()
    keras_functions: frozenset[str] = frozenset()

    def classify(self, module: str, name: str) -> tuple[ScanVerdict, str]:
        """The verdict for importing ``module.name`` and why."""
        if module == "?" or not module or not name:
            return ScanVerdict.DANGEROUS, "the import cannot be resolved statically"
        mod = normalize_module(module)
        mapped = _compat_pickle.NAME_MAPPING.get((module, name))
        if mapped:
            mod, name = mapped
        qual = f"{mod}.{name}"
        if qual in self.allow:
            return ScanVerdict.SAFE, "allowlisted data reconstructor"
        for p in self.deny_modules:
            if mod == p or mod.startswith(p + "."):
                return ScanVerdict.DANGEROUS, f"module {p} can run code or reach files/network"
        parts = name.split(".")
        for k in range(len(parts), 0, -1):
            if f"{mod}.{'.'.join(parts[:k])}" in self.deny_globals:
                return ScanVerdict.DANGEROUS, f"{qual} can run code or reach files/network"
        bad = [p for p in parts if p in _DANGEROUS_ATTRS]
        if bad:
            return ScanVerdict.DANGEROUS, f"attribute path through {bad[0]}"
        return ScanVerdict.SUSPICIOUS, "not on the allowlist"

    def with_allowed(self, extra: frozenset[str]) -> GlobalPolicy:
        return GlobalPolicy(
            self.allow | extra,
            self.deny_modules,
            self.deny_globals,
            self.keras_allow,
            self.keras_functions,
        )


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{where}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{where}: expected a mapping with a `globals` list")
    return doc


@cache
def shipped_policy() -> GlobalPolicy:
    """The allowlist and denylist shipped in ``bastion/integrity/scanning/data``."""
    base = resources.files("bastion.integrity.scanning") / "data"
    allow = _read_yaml((base / "allowlist.yaml").read_text("utf-8"), "allowlist.yaml")
    deny = _read_yaml((base / "denylist.yaml").read_text("utf-8"), "denylist.yaml")
    keras = _read_yaml((base / "keras_allowlist.yaml").read_text("utf-8"), "keras_allowlist.yaml")
    return GlobalPolicy(
        allow=frozenset(str(g) for g in allow.get("globals") or ()),
        deny_modules=tuple(str(m) for m in deny.get("modules") or ()),
        deny_globals=frozenset(str(g) for g in deny.get("globals") or ()),
        keras_allow=frozenset(str(g) for g in keras.get("objects") or ()),
        keras_functions=frozenset(str(g) for g in keras.get("builtin_functions") or ()),
    )


def load_allowlist(path: Path) -> frozenset[str]:
    """A user's per-model allowlist: ``globals: [module.name, ...]``, exact names only."""
    try:
        if path.stat().st_size > _MAX_ALLOW_BYTES:
            raise InputError(f"{path}: allowlist larger than {_MAX_ALLOW_BYTES} bytes")
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the allowlist ({exc.__class__.__name__})") from None
    doc = _read_yaml(text, str(path))
    entries = doc.get("globals")
    if not isinstance(entries, list):
        raise InputError(f"{path}: `globals` must be a list of module.name strings")
    policy = shipped_policy()
    out: set[str] = set()
    for i, e in enumerate(entries):
        where = f"{path}: globals[{i}]"
        if not isinstance(e, str) or not _NAME.match(e):
            raise InputError(
                f"{where}: {e!r} is not an exact module.name (no wildcards); "
                "write e.g. mypkg.layers.MyLayer"
            )
        mod, _, name = e.rpartition(".")
        verdict, why = policy.classify(mod, name)
        if verdict is ScanVerdict.DANGEROUS:
            raise InputError(f"{where}: {e} is on the dangerous list ({why}); remove it")
        out.add(e)
    return frozenset(out)
