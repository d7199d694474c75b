"""Sigma rules for logsource ``product: ai_gateway`` (issue 12, section 3).

The rule pack ships in ``bastion/monitor/sigma/*.yaml``: detections over Bastion's OCSF
events (field names are the events' dotted OCSF paths: ``class_uid``, ``status_id``,
``api.operation``, ``actor.user.name``, ``finding_info.analytic.name`` ...), so a SOC
correlates in its own SIEM. Two ways to use them:

- :func:`convert` turns them into Splunk SPL or Elasticsearch (ES|QL, or Lucene for the
  rules without correlation) queries with pySigma and its backends (the optional ``sigma``
  extra: pySigma is LGPL-2.1, used as an unmodified library, imported only here and only
  when asked);
- :class:`SigmaEvaluator`, a native evaluator of the same rules over Bastion's own events
  (the subset of Sigma the pack and most field rules use: value lists, wildcards, the
  modifiers ``contains startswith endswith all re cased exists gt gte lt lte``, conditions
  with ``and or not``, parentheses, ``1 of X*``, ``all of X*``, ``them``, and
  ``event_count`` correlations with ``group-by`` and ``timespan``). Anything outside that
  subset is refused with :class:`SigmaRuleError` when the rule is loaded, never ignored.
"""

from __future__ import annotations

import fnmatch
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bastion.core.documents import parse_yaml
from bastion.core.errors import InputError
from bastion.monitor.detections import field_value

__all__ = [
    "LOGSOURCE_PRODUCT",
    "TARGETS",
    "SigmaEvaluator",
    "SigmaMatch",
    "SigmaRule",
    "SigmaRuleError",
    "convert",
    "load_rules",
    "parse_rules",
    "rule_pack",
    "rule_pack_text",
    "validate_with_pysigma",
]

LOGSOURCE_PRODUCT = "ai_gateway"
MAX_RULE_BYTES = 64 * 1024
MAX_RULES = 1000
_MODIFIERS = {
    "contains",
    "startswith",
    "endswith",
    "all",
    "re",
    "cased",
    "exists",
    "gt",
    "gte",
    "lt",
    "lte",
}
_TIMESPAN = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class SigmaRuleError(InputError):
    """A Sigma rule that does not parse, or uses what the native evaluator cannot run."""

    title = "Invalid Sigma rule"


#: Conversion targets of :func:`convert`.
TARGETS = ("splunk", "elastic", "lucene")


# -- values ----------------------------------------------------------------------------------


def _wildcard(pattern: str, cased: bool) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*?\\":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL | (0 if cased else re.IGNORECASE))


def _values(event: Mapping[str, Any], path: str) -> list[Any]:
    """The values at a dotted path, through lists as SIEMs flatten them
    (``finding_info.attacks.technique.uid`` is every attack's technique id)."""
    cur: list[Any] = [event]
    for part in path.split("."):
        nxt: list[Any] = []
        for c in cur:
            items = c if isinstance(c, list) else [c]
            nxt.extend(i[part] for i in items if isinstance(i, Mapping) and part in i)
        cur = nxt
    out: list[Any] = []
    for c in cur:
        out.extend(c) if isinstance(c, list) else out.append(c)
    return [v for v in out if v is not None]


#: Splunk indexes JSON arrays as ``name{}``: the fields through OCSF lists, renamed for it.
SPLUNK_FIELDS = {"finding_info.attacks.technique.uid": "finding_info.attacks{}.technique.uid"}


@dataclass(frozen=True)
class _Item:
    """One ``field|modifiers: values`` line of a selection."""

    field: str
    modifiers: tuple[str, ...]
    values: tuple[Any, ...]
    patterns: tuple[re.Pattern[str] | None, ...]

    @classmethod
    def build(cls, key: str, raw: Any, where: str) -> _Item:
        name, *mods = key.split("|")
        for m in mods:
            if m not in _MODIFIERS:
                raise SigmaRuleError(f"{where}: modifier {m[:40]!r} is not supported")
        values = tuple(raw) if isinstance(raw, list) else (raw,)
        if not values:
            raise SigmaRuleError(f"{where}: {name}: an empty value list")
        cased = "cased" in mods
        pats: list[re.Pattern[str] | None] = []
        for v in values:
            if isinstance(v, (dict, list)):
                raise SigmaRuleError(f"{where}: {name}: a value must be a scalar")
            if "re" in mods:
                if not isinstance(v, str):
                    raise SigmaRuleError(f"{where}: {name}|re: expected a string")
                try:
                    pats.append(re.compile(v))
                except re.error:
                    raise SigmaRuleError(f"{where}: {name}|re: not a valid expression") from None
            elif isinstance(v, str):
                text = v
                if "contains" in mods:
                    text = f"*{text}*"
                elif "startswith" in mods:
                    text = f"{text}*"
                elif "endswith" in mods:
                    text = f"*{text}"
                pats.append(_wildcard(text, cased))
            else:
                pats.append(None)
        return cls(name, tuple(mods), values, tuple(pats))

    def _one(self, actual: Any, value: Any, pat: re.Pattern[str] | None) -> bool:
        mods = self.modifiers
        if any(m in mods for m in ("gt", "gte", "lt", "lte")):
            if isinstance(actual, bool) or not isinstance(actual, (int, float)):
                return False
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False
            return (
                ("gt" in mods and actual > value)
                or ("gte" in mods and actual >= value)
                or ("lt" in mods and actual < value)
                or ("lte" in mods and actual <= value)
            )
        if value is None:
            return actual is None
        if actual is None or isinstance(actual, (dict, list)):
            return False
        if "re" in mods:
            return pat is not None and pat.search(str(actual)) is not None
        if pat is None:  # a number or a boolean
            if isinstance(value, bool) or isinstance(actual, bool):
                return str(actual).lower() == str(value).lower()
            if isinstance(actual, (int, float)):
                return bool(actual == value)
            return str(actual) == str(value)
        text = str(actual).lower() if isinstance(actual, bool) else str(actual)
        return pat.fullmatch(text) is not None

    def matches(self, event: Mapping[str, Any]) -> bool:
        found = _values(event, self.field)
        if "exists" in self.modifiers:
            return bool(found) == bool(self.values[0])
        if not found:
            found = [None]

        def one(v: Any, p: re.Pattern[str] | None) -> bool:
            return any(self._one(actual, v, p) for actual in found)

        results = (one(v, p) for v, p in zip(self.values, self.patterns, strict=True))
        return all(results) if "all" in self.modifiers else any(results)


@dataclass(frozen=True)
class _Selection:
    """A named detection: a map (every item holds) or a list of maps (one holds)."""

    alternatives: tuple[tuple[_Item, ...], ...]

    @classmethod
    def build(cls, name: str, raw: Any, where: str) -> _Selection:
        maps = raw if isinstance(raw, list) else [raw]
        alts: list[tuple[_Item, ...]] = []
        for m in maps:
            if not isinstance(m, dict) or not m:
                raise SigmaRuleError(
                    f"{where}: detection {name!r}: keyword lists are not supported; use "
                    "field: value maps"
                )
            alts.append(tuple(_Item.build(str(k), v, f"{where}: {name}") for k, v in m.items()))
        return cls(tuple(alts))

    def matches(self, event: Mapping[str, Any]) -> bool:
        return any(all(i.matches(event) for i in alt) for alt in self.alternatives)


# -- conditions ------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z0-9_*]+)")


def _tokens(text: str, where: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise SigmaRuleError(f"{where}: condition: unexpected text at column {pos + 1}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Condition:
    """A parsed condition, evaluated against the selections' results."""

    def __init__(self, text: str, names: Sequence[str], where: str) -> None:
        self.where = where
        self.names = list(names)
        self.toks = _tokens(text, where)
        self.i = 0
        if not self.toks:
            raise SigmaRuleError(f"{where}: an empty condition")
        self.tree = self._or()
        if self.i != len(self.toks):
            raise SigmaRuleError(f"{where}: condition: unexpected {self.toks[self.i][:40]!r}")

    def _peek(self) -> str | None:
        return self.toks[self.i].lower() if self.i < len(self.toks) else None

    def _take(self) -> str:
        if self.i >= len(self.toks):
            raise SigmaRuleError(f"{self.where}: condition ends too early")
        t = self.toks[self.i]
        self.i += 1
        return t

    def _or(self) -> Any:
        node = self._and()
        while self._peek() == "or":
            self._take()
            node = ("or", node, self._and())
        return node

    def _and(self) -> Any:
        node = self._not()
        while self._peek() == "and":
            self._take()
            node = ("and", node, self._not())
        return node

    def _not(self) -> Any:
        if self._peek() == "not":
            self._take()
            return ("not", self._not())
        return self._atom()

    def _matching(self, pattern: str) -> list[str]:
        if pattern.lower() == "them":
            return [n for n in self.names if not n.startswith("_")]
        found = [n for n in self.names if fnmatch.fnmatchcase(n, pattern)]
        if not found:
            raise SigmaRuleError(f"{self.where}: condition names no detection {pattern[:40]!r}")
        return found

    def _atom(self) -> Any:
        t = self._take()
        low = t.lower()
        if t == "(":
            node = self._or()
            if self._take() != ")":
                raise SigmaRuleError(f"{self.where}: condition: missing ')'")
            return node
        if low in ("1", "all", "any"):
            if self._take().lower() != "of":
                raise SigmaRuleError(f"{self.where}: condition: expected 'of' after {t!r}")
            names = self._matching(self._take())
            return ("all" if low == "all" else "any", names)
        if low in ("and", "or", "not", ")", "of"):
            raise SigmaRuleError(f"{self.where}: condition: unexpected {t!r}")
        if t not in self.names:
            raise SigmaRuleError(f"{self.where}: condition names no detection {t[:40]!r}")
        return ("sel", t)

    @staticmethod
    def evaluate(node: Any, results: Mapping[str, bool]) -> bool:
        op = node[0]
        if op == "sel":
            return results[node[1]]
        if op == "not":
            return not _Condition.evaluate(node[1], results)
        if op == "and":
            return _Condition.evaluate(node[1], results) and _Condition.evaluate(node[2], results)
        if op == "or":
            return _Condition.evaluate(node[1], results) or _Condition.evaluate(node[2], results)
        if op == "all":
            return all(results[n] for n in node[1])
        return any(results[n] for n in node[1])


# -- rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigmaCorrelation:
    """An ``event_count`` correlation: at least ``threshold`` matches of ``rules`` per
    ``group_by`` within ``timespan_s``."""

    rules: tuple[str, ...]
    group_by: tuple[str, ...]
    timespan_s: int
    threshold: int


@dataclass(frozen=True)
class SigmaRule:
    id: str
    title: str
    level: str
    tags: tuple[str, ...]
    source: str  # file name
    text: str
    name: str | None = None
    selections: Mapping[str, _Selection] = field(default_factory=dict)
    condition: Any = None
    correlation: SigmaCorrelation | None = None

    @property
    def techniques(self) -> tuple[str, ...]:
        """ATLAS technique IDs from ``atlas.aml.tNNNN[.NNN]`` tags."""
        prefix = "atlas.aml.t"
        return tuple(
            "AML.T" + t[len(prefix) :].upper() for t in self.tags if t.lower().startswith(prefix)
        )

    def matches(self, event: Mapping[str, Any]) -> bool:
        if self.correlation is not None:
            return False
        results = {n: s.matches(event) for n, s in self.selections.items()}
        return _Condition.evaluate(self.condition, results)


def _parse_rule(raw: Any, text: str, source: str) -> SigmaRule:
    where = f"Sigma rule {source}"
    if not isinstance(raw, dict):
        raise SigmaRuleError(f"{where}: must be a mapping")
    for key in ("title", "id"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise SigmaRuleError(f"{where}: '{key}' is missing")
    rid, title = str(raw["id"]), str(raw["title"])
    where = f"Sigma rule {source} ({rid[:36]})"
    tags = raw.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise SigmaRuleError(f"{where}: 'tags' must be a list of strings")
    level = str(raw.get("level", "medium"))
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    if "correlation" in raw:
        c = raw["correlation"]
        if not isinstance(c, dict) or c.get("type") != "event_count":
            raise SigmaRuleError(f"{where}: only event_count correlations are supported")
        rules = c.get("rules")
        span = _TIMESPAN.match(str(c.get("timespan", "")))
        cond = c.get("condition")
        if not isinstance(rules, list) or not rules or span is None:
            raise SigmaRuleError(f"{where}: a correlation needs rules and a timespan like 1m")
        if not isinstance(cond, dict) or not isinstance(cond.get("gte"), int) or len(cond) != 1:
            raise SigmaRuleError(f"{where}: a correlation condition must be 'gte: N'")
        group = c.get("group-by") or []
        if not isinstance(group, list):
            raise SigmaRuleError(f"{where}: 'group-by' must be a list of fields")
        corr = SigmaCorrelation(
            tuple(str(r) for r in rules),
            tuple(str(g) for g in group),
            int(span.group(1)) * _UNITS[span.group(2)],
            int(cond["gte"]),
        )
        return SigmaRule(rid, title, level, tuple(tags), source, text, name, correlation=corr)
    logsource = raw.get("logsource")
    if not isinstance(logsource, dict) or logsource.get("product") != LOGSOURCE_PRODUCT:
        raise SigmaRuleError(f"{where}: logsource product must be {LOGSOURCE_PRODUCT}")
    det = raw.get("detection")
    if not isinstance(det, dict) or "condition" not in det:
        raise SigmaRuleError(f"{where}: 'detection' with a 'condition' is missing")
    cond_text = det["condition"]
    if isinstance(cond_text, list) and len(cond_text) == 1:
        cond_text = cond_text[0]
    if not isinstance(cond_text, str):
        raise SigmaRuleError(f"{where}: the condition must be one string")
    sels = {
        str(k): _Selection.build(str(k), v, where)
        for k, v in det.items()
        if k not in ("condition", "timeframe")
    }
    condition = _Condition(cond_text, list(sels), where).tree
    return SigmaRule(rid, title, level, tuple(tags), source, text, name, sels, condition)


def parse_rules(text: str, source: str) -> list[SigmaRule]:
    """The rules of one YAML document (or several, separated by ``---``)."""
    if len(text.encode()) > MAX_RULE_BYTES * 10:
        raise SigmaRuleError(f"Sigma rule {source}: larger than {MAX_RULE_BYTES * 10} bytes")
    docs = [d for d in re.split(r"(?m)^---\s*$", text) if d.strip()]
    out = []
    for d in docs:
        try:
            raw = parse_yaml(d, f"Sigma rule {source}")
        except SigmaRuleError:
            raise
        except InputError as exc:
            raise SigmaRuleError(exc.message) from None
        out.append(_parse_rule(raw, d, source))
    return out


def _check_pack(rules: list[SigmaRule]) -> list[SigmaRule]:
    ids: dict[str, str] = {}
    for r in rules:
        if r.id in ids:
            raise SigmaRuleError(f"Sigma rule id {r.id} is used by {ids[r.id]} and {r.source}")
        ids[r.id] = r.source
    names = {r.name for r in rules if r.name}
    for r in rules:
        if r.correlation is not None:
            missing = [x for x in r.correlation.rules if x not in ids and x not in names]
            if missing:
                raise SigmaRuleError(
                    f"Sigma rule {r.source}: the correlation names unknown rule(s) "
                    + ", ".join(m[:40] for m in missing)
                )
    return rules


def rule_pack_text() -> list[tuple[str, str]]:
    """The shipped pack as (file name, YAML text), sorted by name."""
    pack = resources.files("bastion.monitor").joinpath("sigma")
    return sorted(
        (p.name, p.read_text(encoding="utf-8")) for p in pack.iterdir() if p.name.endswith(".yaml")
    )


def rule_pack() -> list[SigmaRule]:
    """The shipped rule pack, parsed."""
    out: list[SigmaRule] = []
    for name, text in rule_pack_text():
        out.extend(parse_rules(text, name))
    return _check_pack(out)


def load_rules(paths: Sequence[Path]) -> list[SigmaRule]:
    """Rules from files or directories of ``*.yml`` / ``*.yaml`` (each at most 640 KiB)."""
    out: list[SigmaRule] = []
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(x for x in p.iterdir() if x.suffix in (".yml", ".yaml")))
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"{p.name}: no such rule file or directory")
    if len(files) > MAX_RULES:
        raise SigmaRuleError(f"more than {MAX_RULES} rule files: split the pack")
    for f in files:
        if f.stat().st_size > MAX_RULE_BYTES * 10:
            raise SigmaRuleError(f"Sigma rule {f.name}: larger than {MAX_RULE_BYTES * 10} bytes")
        out.extend(parse_rules(f.read_text(encoding="utf-8", errors="replace"), f.name))
    return _check_pack(out)


# -- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigmaMatch:
    """A rule that matched: the event (or, for a correlation, the last of the group)."""

    rule_id: str
    title: str
    level: str
    techniques: tuple[str, ...]
    time_ms: int | None
    event_uids: tuple[str, ...]
    group: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "level": self.level,
            "techniques": list(self.techniques),
            "time_ms": self.time_ms,
            "events": list(self.event_uids[:100]),
            "group": dict(self.group),
        }


class SigmaEvaluator:
    """Runs rules over OCSF events in time order; correlations keep a sliding window per
    group and fire once per burst (the window must empty before the group fires again)."""

    def __init__(self, rules: Sequence[SigmaRule] | None = None) -> None:
        self.rules = list(rules) if rules is not None else rule_pack()
        self.plain = [r for r in self.rules if r.correlation is None]
        by_ref = {r.id: r for r in self.plain} | {r.name: r for r in self.plain if r.name}
        self.correlations = [
            (r, [by_ref[x] for x in r.correlation.rules if x in by_ref])
            for r in self.rules
            if r.correlation is not None
        ]
        self.windows: dict[tuple[str, tuple[Any, ...]], deque[tuple[int, str | None]]] = {}
        self.fired: set[tuple[str, tuple[Any, ...]]] = set()
        self.events = 0

    def process(self, event: Mapping[str, Any]) -> list[SigmaMatch]:
        self.events += 1
        t = event.get("time")
        t_ms = (
            int(t)
            if isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t < 2**53
            else None
        )
        uid = field_value(event, "metadata.uid")
        uids = (uid,) if isinstance(uid, str) else ()
        hit = {r.id for r in self.plain if r.matches(event)}
        out = [
            SigmaMatch(r.id, r.title, r.level, r.techniques, t_ms, uids)
            for r in self.plain
            if r.id in hit
        ]
        for corr, refs in self.correlations:
            assert corr.correlation is not None
            if t_ms is None or not any(x.id in hit for x in refs):
                continue
            group = tuple(field_value(event, g) for g in corr.correlation.group_by)
            key = (corr.id, group)
            win = self.windows.setdefault(key, deque())
            while win and win[0][0] <= t_ms - corr.correlation.timespan_s * 1000:
                win.popleft()
            if not win:
                self.fired.discard(key)
            win.append((t_ms, uids[0] if uids else None))
            if len(win) >= corr.correlation.threshold and key not in self.fired:
                self.fired.add(key)
                out.append(
                    SigmaMatch(
                        corr.id, corr.title, corr.level, corr.techniques, t_ms,
                        tuple(u for _, u in win if u),
                        dict(zip(corr.correlation.group_by, group, strict=True)),
                    )
                )  # fmt: skip
        return out

    def run(self, events: Iterable[Mapping[str, Any]]) -> list[SigmaMatch]:
        out: list[SigmaMatch] = []
        for e in events:
            out.extend(self.process(e))
        return out


# -- pySigma ---------------------------------------------------------------------------------


def _collection(rules: Sequence[SigmaRule]) -> Any:
    try:
        from sigma.collection import SigmaCollection
    except ImportError:
        raise InputError(
            "pySigma is not installed: pip install 'bastion[sigma]' (pysigma and its Splunk "
            "and Elasticsearch backends)"
        ) from None
    from sigma.exceptions import SigmaError

    try:
        return SigmaCollection.from_yaml("\n---\n".join(r.text for r in rules))
    except SigmaError as exc:
        raise SigmaRuleError(f"pySigma refused the rules: {str(exc)[:300]}") from None


_SKIPPED_VALIDATORS = frozenset({"namespace_tag"})


def validate_with_pysigma(rules: Sequence[SigmaRule] | None = None) -> list[str]:
    """Parse the rules with pySigma and run its validators; returns the problems found
    (rule id and the validator's message), empty when the pack is clean."""
    col = _collection(rules if rules is not None else rule_pack())
    from sigma.validators.core import validators

    problems = [f"{getattr(r, 'id', '?')}: {e}" for r in col.rules for e in r.errors]
    # ATLAS is not one of Sigma's tag namespaces (attack, car, cve, d3fend, detection, stp,
    # tlp): the pack tags techniques ``atlas.aml.tNNNN`` and that one validator is skipped.
    checks = [v() for k, v in validators.items() if k not in _SKIPPED_VALIDATORS]
    for r in col.rules:
        for v in checks:
            try:
                issues = v.validate(r)
            except Exception:  # a validator for another kind of rule (a correlation)
                continue
            problems.extend(f"{getattr(r, 'id', '?')}: {i}" for i in issues)
    return problems


def convert(target: str, rules: Sequence[SigmaRule] | None = None) -> list[str]:
    """The rules as queries for ``target``: ``splunk`` (SPL), ``elastic`` (ES|QL, with the
    correlations), ``lucene`` (Elasticsearch query strings; correlations are left out,
    Lucene cannot count)."""
    if target not in TARGETS:
        raise InputError(f"unknown target {target[:40]!r}: expected one of {', '.join(TARGETS)}")
    chosen = list(rules if rules is not None else rule_pack())
    if target == "lucene":
        chosen = [r for r in chosen if r.correlation is None]
    col = _collection(chosen)
    from sigma.exceptions import SigmaError

    backend: Any
    if target == "splunk":
        from sigma.backends.splunk import SplunkBackend  # type: ignore[attr-defined]
        from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
        from sigma.processing.transformations import FieldMappingTransformation

        fields: dict[str | None, str | list[str]] = dict(SPLUNK_FIELDS.items())
        mapping = ProcessingItem(FieldMappingTransformation(fields),
                                 identifier="bastion_ocsf_arrays")  # fmt: skip
        backend = SplunkBackend(ProcessingPipeline(name="bastion ocsf", items=[mapping]))
    elif target == "elastic":
        from sigma.backends.elasticsearch import ESQLBackend  # type: ignore[attr-defined]

        backend = ESQLBackend()
    else:
        from sigma.backends.elasticsearch import LuceneBackend  # type: ignore[attr-defined]

        backend = LuceneBackend()
    try:
        return [str(q) for q in backend.convert(col)]
    except (SigmaError, NotImplementedError) as exc:
        raise SigmaRuleError(f"{target}: cannot convert the rules: {str(exc)[:300]}") from None
