"""Load a manifest from untrusted YAML and say precisely what is wrong with it.

The YAML is read through the parser's event stream rather than ``yaml.safe_load`` so
that every value keeps its line and column, aliases are refused before anything is
expanded (no billion laughs), duplicate keys are caught (YAML keeps the last one
silently) and nesting and node counts are bounded. Pydantic then validates the plain
data, and each of its errors is mapped back to the YAML node it is about.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import os
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bastion.core.errors import InputError, ManifestError
from bastion.manifest._references import Path, check_references, format_path
from bastion.manifest._schema import (
    JURISDICTION_PATTERN,
    SKIP_REFERENCES,
    SLUG_PATTERN,
    SystemManifest,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "ManifestProblem",
    "load_manifest",
    "parse_manifest",
    "validate_manifest",
]

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 250_000

# libyaml when present (fast); both expose the same event API and marks.
_Parser: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")
)
_MAP_TAGS = (None, "!", "tag:yaml.org,2002:map")
_SEQ_TAGS = (None, "!", "tag:yaml.org,2002:seq")
_PATTERNS = {
    SLUG_PATTERN: (
        "a lowercase ID of letters, digits, '.', '_' or '-' that starts with a letter or "
        "digit, at most 63 characters"
    ),
    JURISDICTION_PATTERN: (
        "an ISO 3166-1 alpha-2 code such as DE or US-CA, or a region code "
        "(EU, EEA, EMEA, APAC, LATAM, GLOBAL)"
    ),
}
_TOP_LEVEL = "a mapping with apiVersion, kind, system, assets, flows and boundaries"


@dataclasses.dataclass(frozen=True)
class ManifestProblem:
    """One problem, placed at the YAML node it is about (line and column are 1-based)."""

    file: str
    line: int
    column: int
    path: str
    message: str
    expected: str | None = None

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: "
        if self.path:
            text += f"{self.path}: "
        text += self.message
        if self.expected:
            text += f" (expected {self.expected})"
        return text


class _Stop(Exception):
    """A problem after which the rest of the document cannot be read."""

    def __init__(self, line: int, column: int, message: str, expected: str | None = None):
        super().__init__(message)
        self.line, self.column, self.message, self.expected = line, column, message, expected


@dataclasses.dataclass
class _Raw:
    line: int
    column: int
    path: Path
    message: str
    expected: str | None = None


@dataclasses.dataclass
class _Doc:
    """Plain data plus where each value (and each mapping key) sits in the text."""

    data: Any = None
    values: dict[Path, tuple[int, int]] = dataclasses.field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = dataclasses.field(default_factory=dict)
    problems: list[_Raw] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Frame:
    container: dict[str, Any] | list[Any]
    path: Path
    key: str | None = None
    key_at: tuple[int, int] = (1, 1)
    seen: dict[str, int] = dataclasses.field(default_factory=dict)


# -- public API -----------------------------------------------------------------------


def load_manifest(
    path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> SystemManifest:
    """Read and validate a manifest file; raise ManifestError listing every problem."""
    name = os.fspath(path)
    return parse_manifest(_read_bounded(name, max_bytes), name, max_bytes=max_bytes)


def validate_manifest(
    path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[ManifestProblem]:
    """Every problem in a manifest file, or ``[]`` when it is valid.

    Content problems are returned, never raised; a file that cannot be opened at all
    raises InputError, because there is nothing to point a line number at.
    """
    try:
        load_manifest(path, max_bytes=max_bytes)
    except ManifestError as exc:
        return [p for p in exc.problems if isinstance(p, ManifestProblem)]
    return []


def parse_manifest(
    text: str | bytes, filename: str = "<string>", *, max_bytes: int = DEFAULT_MAX_BYTES
) -> SystemManifest:
    """Validate manifest text; raise ManifestError listing every problem."""
    doc = _Doc()
    try:
        source = _decode(text, max_bytes)
        doc = _compose(source)
    except _Stop as stop:
        doc.problems.append(_Raw(stop.line, stop.column, (), stop.message, stop.expected))
        _raise(filename, doc.problems)
    manifest = _validate(doc)
    if doc.problems or manifest is None:
        _raise(filename, doc.problems)
    return manifest


def _raise(filename: str, raw: list[_Raw]) -> typing.NoReturn:
    unique: dict[tuple[int, int, str, str], ManifestProblem] = {}
    for r in raw:
        path = format_path(r.path)
        key = (r.line, r.column, path, r.message)
        unique.setdefault(key, ManifestProblem(filename, *key, r.expected))
    problems = sorted(unique.values(), key=lambda p: (p.line, p.column, p.path))
    count = len(problems)
    raise ManifestError(
        f"{filename}: {count} problem{'s' if count != 1 else ''}", list[object](problems)
    )


# -- bytes to text --------------------------------------------------------------------


def _read_bounded(name: str, max_bytes: int) -> bytes:
    """Stat first, then read at most ``max_bytes + 1``: a huge file is never read whole."""
    try:
        with open(name, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise _oversize(name, size, max_bytes)
            data = fh.read(max_bytes + 1)  # the file may grow, or be a pipe
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a manifest file") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise _oversize(name, len(data), max_bytes)
    return data


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _oversize(name: str, size: int, max_bytes: int) -> ManifestError:
    problem = ManifestProblem(
        name,
        1,
        1,
        "",
        f"file is {'at least ' if size == max_bytes + 1 else ''}{_human_size(size)}, "
        "over the size limit; refused without reading it",
        f"at most {_human_size(max_bytes)}",
    )
    return ManifestError(f"{name}: 1 problem", [problem])


def _position(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _decode(raw: str | bytes, max_bytes: int) -> str:
    if isinstance(raw, bytes):
        size = len(raw)
    else:
        size = len(raw) if len(raw) > max_bytes else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise _Stop(
            1,
            1,
            f"manifest is {_human_size(size)}, over the size limit",
            f"at most {_human_size(max_bytes)}",
        )
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            head = raw[: exc.start].decode("utf-8")
            line, column = _position(head, len(head))
            raise _Stop(
                line,
                column,
                f"file is not valid UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded",
                "UTF-8 text",
            ) from None
    text = text.removeprefix("\ufeff")
    bad = _NON_PRINTABLE.search(text)
    if bad is not None:
        line, column = _position(text, bad.start())
        raise _Stop(
            line,
            column,
            f"control character U+{ord(bad.group()):04X} is not allowed in YAML",
            "printable text",
        )
    return text


# -- text to located plain data -------------------------------------------------------


def _mark(event: Any) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _yaml_problem(exc: yaml.YAMLError, text: str) -> _Stop:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = str(getattr(exc, "problem", None) or exc).strip()
    context = getattr(exc, "context", None)
    lines = text.splitlines()
    char = lines[line - 1][column - 1 : column] if line <= len(lines) else ""
    if char == "\t" or "tab" in problem:
        return _Stop(line, column, "tab character in indentation", "spaces; YAML forbids tabs")
    if context:
        problem = f"{problem} ({context})"
    return _Stop(line, column, f"malformed YAML: {problem}")


def _compose(text: str) -> _Doc:
    parser = _Parser(text)
    try:
        return _walk(parser, text)
    except yaml.YAMLError as exc:
        raise _yaml_problem(exc, text) from None
    finally:
        parser.dispose()


def _walk(parser: Any, text: str) -> _Doc:
    doc = _Doc()
    parser.get_event()  # StreamStart
    if parser.check_event(yaml.StreamEndEvent):
        raise _Stop(1, 1, "the manifest is empty", _TOP_LEVEL)
    parser.get_event()  # DocumentStart
    stack: list[_Frame] = []
    nodes = 0
    done = False
    while not done:
        event = parser.get_event()
        at = _mark(event)
        if isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            stack.pop()
            done = not stack
            continue
        if isinstance(event, yaml.AliasEvent):
            raise _Stop(
                *at,
                f"YAML alias '*{event.anchor}' is not allowed in a manifest",
                "every value written out in full, without anchors and aliases",
            )
        nodes += 1
        if nodes > MAX_NODES:
            raise _Stop(*at, f"more than {MAX_NODES} YAML nodes", "a smaller manifest")
        top = stack[-1] if stack else None
        if top is not None and isinstance(top.container, dict) and top.key is None:
            _take_key(doc, top, event, at)
            continue
        if top is None:
            path: Path = ()
        elif isinstance(top.container, dict):
            assert top.key is not None
            path = (*top.path, top.key)
            doc.keys[path] = top.key_at
        else:
            path = (*top.path, len(top.container))
        doc.values[path] = at
        value: Any
        if isinstance(event, yaml.ScalarEvent):
            value = _scalar(parser, doc, event, path, at)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            is_map = isinstance(event, yaml.MappingStartEvent)
            if len(stack) >= MAX_DEPTH:
                raise _Stop(*at, f"nesting deeper than {MAX_DEPTH} levels", "a flatter document")
            if event.tag not in (_MAP_TAGS if is_map else _SEQ_TAGS):
                doc.problems.append(_Raw(*at, path, f"unsupported YAML tag '{event.tag}'"))
            value = {} if is_map else []
        else:  # pragma: no cover - the parser yields nothing else here
            raise _Stop(*at, f"unexpected YAML event {type(event).__name__}")
        if top is None:
            doc.data = value
        elif isinstance(top.container, dict):
            assert top.key is not None
            top.container[top.key] = value
            top.key = None
        else:
            top.container.append(value)
        if isinstance(value, dict | list) and isinstance(
            event, yaml.MappingStartEvent | yaml.SequenceStartEvent
        ):
            stack.append(_Frame(value, path))
        done = not stack
    parser.get_event()  # DocumentEnd
    if not parser.check_event(yaml.StreamEndEvent):
        raise _Stop(
            *_mark(parser.peek_event()),
            "more than one YAML document in the file",
            "a single document",
        )
    return doc


def _take_key(doc: _Doc, frame: _Frame, event: Any, at: tuple[int, int]) -> None:
    if not isinstance(event, yaml.ScalarEvent):
        raise _Stop(*at, "mapping keys must be plain strings", "a key such as 'name:'")
    key = str(event.value)
    if key in frame.seen:
        doc.problems.append(
            _Raw(
                *at,
                (*frame.path, key),
                f"duplicate key '{key}' (first defined at line {frame.seen[key]})",
                "each key once per mapping",
            )
        )
    else:
        frame.seen[key] = at[0]
    frame.key = key
    frame.key_at = at


def _scalar(parser: Any, doc: _Doc, event: Any, path: Path, at: tuple[int, int]) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        tag = parser.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag not in _SCALAR_TAGS:
        doc.problems.append(_Raw(*at, path, f"unsupported YAML tag '{event.tag}'"))
        return event.value
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    try:
        return parser.yaml_constructors[tag](parser, node)
    except (ValueError, OverflowError, TypeError, yaml.YAMLError):
        kind = tag.rsplit(":", 1)[-1]
        doc.problems.append(_Raw(*at, path, f"{_show(event.value)} is not a valid YAML {kind}"))
        return event.value


# -- located data to a validated manifest ---------------------------------------------


def _validate(doc: _Doc) -> SystemManifest | None:
    root_at = doc.values.get((), (1, 1))
    if doc.data is None:
        doc.problems.append(_Raw(*root_at, (), "the manifest is empty", _TOP_LEVEL))
        return None
    if not isinstance(doc.data, dict):
        doc.problems.append(
            _Raw(*root_at, (), f"the top level is {_kind_of(doc.data)}", _TOP_LEVEL)
        )
        return None

    def where(path: Path) -> str:
        at = doc.values.get(path)
        return f"line {at[0]}" if at else format_path(path)

    for ref in check_references(doc.data, where):  # before pydantic: see ``refused`` below
        doc.problems.append(_Raw(*_locate(doc, ref.path), ref.path, ref.message, ref.expected))
    try:
        return SystemManifest.model_validate(
            doc.data, context={SKIP_REFERENCES: True}, by_alias=True, by_name=False
        )
    except ValidationError as exc:
        # A value the YAML layer already refused (bad tag, bad scalar) needs no second word.
        refused = {p.path for p in doc.problems}
        for error in exc.errors(include_url=False):
            problem = _from_pydantic(doc, error)
            if problem.path not in refused:
                doc.problems.append(problem)
        return None


def _locate(doc: _Doc, loc: Path) -> tuple[int, int]:
    for n in range(len(loc), -1, -1):
        at = doc.values.get(loc[:n])
        if at is not None:
            return at
    return (1, 1)


def _real_path(doc: _Doc, loc: Path) -> Path:
    """Drop pydantic's union-member tags from a loc, keeping the part that names data."""
    for n in range(len(loc), -1, -1):
        if loc[:n] in doc.values:
            return loc[:n]
    return ()


def _from_pydantic(doc: _Doc, error: ErrorDetails) -> _Raw:
    loc: Path = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        parent = loc[:-1]
        return _Raw(
            *_locate(doc, parent),
            loc,
            f"missing required field '{loc[-1]}'",
            _describe(_annotation_at(loc)),
        )
    if kind == "extra_forbidden":
        allowed = _field_names(_annotation_at(loc[:-1]))
        name = str(loc[-1])
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return _Raw(
            *doc.keys.get(loc, _locate(doc, loc)),
            loc,
            f"unknown field '{name}'{hint}",
            "one of: " + ", ".join(allowed) if allowed else None,
        )
    path = _real_path(doc, loc)
    at = _locate(doc, path)
    annotation = _annotation_at(path)
    if kind == "enum" and isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        choices = [str(m.value) for m in annotation]
        close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return _Raw(*at, path, f"invalid value {_show(value)}{hint}", _describe(annotation))
    if kind == "literal_error":
        return _Raw(*at, path, f"invalid value {_show(value)}", _describe(annotation))
    if kind == "string_pattern_mismatch":
        pattern = str((error.get("ctx") or {}).get("pattern", ""))
        return _Raw(*at, path, f"invalid value {_show(value)}", _PATTERNS.get(pattern, pattern))
    if kind in ("string_too_short", "too_short"):
        return _Raw(*at, path, "must not be empty", _describe(annotation))
    if kind.endswith(("_type", "_parsing")):
        return _Raw(*at, path, f"wrong type: got {_kind_of(value)}", _describe(annotation))
    if kind == "value_error":
        message = error["msg"].removeprefix("Value error, ")
        if message.startswith("expected "):
            return _Raw(
                *at,
                path,
                f"wrong type: got {_kind_of(value)}",
                message.removeprefix("expected "),
            )
        return _Raw(*at, path, message)
    return _Raw(*at, path, error["msg"])


# -- describing types and values ------------------------------------------------------


def _strip(tp: Any) -> Any:
    """Peel Annotated and ``X | None`` down to the type that matters for messages."""
    while True:
        origin = get_origin(tp)
        if origin is typing.Annotated:
            tp = get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _annotation_at(loc: Path) -> Any:
    """The declared type of the field at ``loc``, walking models, lists and dicts."""
    tp: Any = SystemManifest
    for part in loc:
        tp = _strip(tp)
        origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {f.alias or n: f for n, f in tp.model_fields.items()}
            if not isinstance(part, str) or part not in fields:
                return None
            tp = fields[part].annotation
        elif origin is list and isinstance(part, int):
            tp = get_args(tp)[0]
        elif origin is dict and isinstance(part, str):
            tp = get_args(tp)[1]
        else:
            return None
    return _strip(tp)


def _field_names(tp: Any) -> list[str]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _describe(tp: Any) -> str | None:
    tp = _strip(tp)
    origin = get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of: " + ", ".join(str(m.value) for m in tp)
    if origin is Literal:
        return " or ".join(f"'{a}'" for a in get_args(tp))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "a mapping with fields: " + ", ".join(_field_names(tp))
    if origin is list:
        inner = _strip(get_args(tp)[0])
        if isinstance(inner, type) and issubclass(inner, enum.Enum):
            return "a list of: " + ", ".join(str(m.value) for m in inner)
        return "a list of strings" if inner is str else "a list"
    if origin is dict:
        return "a mapping"
    if origin in (typing.Union, types.UnionType):
        return "a string, number or boolean"
    return {str: "a string", bool: "true or false", int: "an integer", float: "a number"}.get(tp)


def _kind_of(value: Any) -> str:
    if value is None:
        return "an empty value (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({_show(value)})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} ({value})"


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."
