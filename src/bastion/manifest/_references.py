"""Cross-reference checks that a schema cannot express: IDs, references, nesting.

They run on plain data (the parsed YAML, or a dumped model) and tolerate malformed
entries, so the loader can report reference problems alongside schema problems in one
pass instead of making the user fix the file twice.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Path", "ReferenceProblem", "check_references", "format_path"]

Path = tuple[str | int, ...]
_SECTIONS = ("assets", "flows", "boundaries")
_NOUNS = {"assets": "asset", "flows": "flow", "boundaries": "trust boundary"}


@dataclass(frozen=True)
class ReferenceProblem:
    path: Path
    message: str
    expected: str | None = None


def format_path(path: Path) -> str:
    """``('assets', 2, 'id')`` -> ``assets[2].id``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _entries(data: Mapping[str, Any], section: str) -> list[tuple[int, Mapping[str, Any]]]:
    items = data.get(section)
    if not isinstance(items, list):
        return []
    return [(i, e) for i, e in enumerate(items) if isinstance(e, Mapping)]


def _str_list(entry: Mapping[str, Any], key: str) -> list[tuple[int, str]]:
    items = entry.get(key)
    if not isinstance(items, list):
        return []
    return [(j, v) for j, v in enumerate(items) if isinstance(v, str)]


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_references(
    data: Mapping[str, Any], where: Callable[[Path], str] = format_path
) -> list[ReferenceProblem]:
    """Every reference problem in ``data``; ``where`` describes a path in messages."""
    problems: list[ReferenceProblem] = []

    # IDs are unique across all three sections, so a reference is never ambiguous.
    first_seen: dict[str, Path] = {}
    ids: dict[str, dict[str, Path]] = {s: {} for s in _SECTIONS}
    for section in _SECTIONS:
        for i, entry in _entries(data, section):
            ident = entry.get("id")
            if not isinstance(ident, str):
                continue
            path: Path = (section, i, "id")
            if ident in first_seen:
                problems.append(
                    ReferenceProblem(
                        path,
                        f"duplicate ID '{ident}' (first used at {where(first_seen[ident])})",
                        "an ID not used by any other asset, flow or boundary",
                    )
                )
                continue
            first_seen[ident] = path
            ids[section][ident] = path
    boundary_ids = list(ids["boundaries"])

    def dangling(path: Path, ref: str, section: str) -> ReferenceProblem:
        noun = _NOUNS[section]
        other = next((s for s in _SECTIONS if s != section and ref in ids[s]), None)
        hint = f" ('{ref}' is a {_NOUNS[other]})" if other else ""
        choices = list(ids[section])
        return ReferenceProblem(
            path,
            f"dangling reference: no {noun} with ID '{ref}'{hint or _suggest(ref, choices)}",
            f"an ID declared under {section}",
        )

    for i, flow in _entries(data, "flows"):
        for end in ("source", "target"):
            ref = flow.get(end)
            if isinstance(ref, str) and ref not in ids["assets"]:
                problems.append(dangling(("flows", i, end), ref, "assets"))

    # Boundary membership: references, at most one parent, no cycles.
    parent: dict[str, str] = {}
    child_path: dict[tuple[str, str], Path] = {}
    placements: dict[str, list[tuple[str, Path]]] = {}
    for i, b in _entries(data, "boundaries"):
        bid = b.get("id")
        bid = bid if isinstance(bid, str) else None
        listed: set[str] = set()
        for j, ref in _str_list(b, "assets"):
            path = ("boundaries", i, "assets", j)
            if ref not in ids["assets"]:
                problems.append(dangling(path, ref, "assets"))
            elif ref in listed:
                problems.append(ReferenceProblem(path, f"asset '{ref}' is listed twice here"))
            elif bid is not None:
                placements.setdefault(ref, []).append((bid, path))
            listed.add(ref)
        listed = set()
        for j, ref in _str_list(b, "boundaries"):
            path = ("boundaries", i, "boundaries", j)
            if ref not in ids["boundaries"]:
                problems.append(dangling(path, ref, "boundaries"))
            elif ref in listed:
                problems.append(ReferenceProblem(path, f"boundary '{ref}' is listed twice here"))
            elif ref == bid:
                problems.append(
                    ReferenceProblem(
                        path, f"cycle in boundaries: {ref} -> {ref}", "boundaries nested as a tree"
                    )
                )
            elif bid is not None and ref in parent:
                problems.append(
                    ReferenceProblem(
                        path,
                        f"boundary '{ref}' is already nested in '{parent[ref]}'",
                        "each boundary nested in at most one parent",
                    )
                )
            elif bid is not None:
                parent[ref] = bid
                child_path[(bid, ref)] = path
            listed.add(ref)

    problems.extend(_cycles(parent, child_path, boundary_ids))

    def ancestors(bid: str) -> list[str]:
        out: list[str] = []
        while bid in parent and parent[bid] not in out and parent[bid] != bid:
            bid = parent[bid]
            out.append(bid)
        return out

    for asset_id, places in placements.items():
        for k, (bid, path) in enumerate(places):
            for other, _ in places[:k]:
                if other not in ancestors(bid) and bid not in ancestors(other):
                    problems.append(
                        ReferenceProblem(
                            path,
                            f"asset '{asset_id}' is also in boundary '{other}', and '{bid}' "
                            f"and '{other}' are not nested in one another",
                            "each asset listed in one innermost boundary",
                        )
                    )
                    break
    return problems


def _cycles(
    parent: dict[str, str], child_path: dict[tuple[str, str], Path], order: list[str]
) -> list[ReferenceProblem]:
    """With one parent per boundary, each cycle is a simple loop of parent pointers."""
    problems: list[ReferenceProblem] = []
    rank = {b: n for n, b in enumerate(order)}
    reported: set[frozenset[str]] = set()
    for start in order:
        walk: list[str] = []
        node: str | None = start
        while node is not None and node not in walk:
            walk.append(node)
            node = parent.get(node)
        if node is None:
            continue
        loop = walk[walk.index(node) :]  # child -> parent -> ... order
        key = frozenset(loop)
        if key in reported:
            continue
        reported.add(key)
        loop.reverse()  # parent -> child: "a contains b contains a"
        first = min(range(len(loop)), key=lambda n: rank.get(loop[n], 0))
        loop = loop[first:] + loop[:first]
        nxt = loop[1] if len(loop) > 1 else loop[0]
        problems.append(
            ReferenceProblem(
                child_path[(loop[0], nxt)],
                "cycle in boundaries: " + " -> ".join([*loop, loop[0]]),
                "boundaries nested as a tree",
            )
        )
    return problems
