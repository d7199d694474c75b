"""FAIR scenarios as data: the YAML grammar, its validation, and the frozen model.

Every refusal names the file, the entry (scenario id and field) and the fix, because a
risk officer editing ranges by hand needs to know exactly which number to change.
"""

from __future__ import annotations

import copy
import enum
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, assert_never

import yaml

from bastion.core.errors import InputError
from bastion.risk._dist import Dist, DistKind

__all__ = [
    "MAX_SCENARIO_BYTES",
    "Control",
    "LossForm",
    "Scenario",
    "ScenarioSet",
    "TolerancePoint",
    "load_control",
    "load_scenarios",
    "merge_raw",
    "merge_scenario",
    "parse_control",
    "parse_scenarios",
]

MAX_SCENARIO_BYTES = 1024 * 1024
MAX_SCENARIOS = 1000
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


class LossForm(enum.StrEnum):
    """The six forms of loss of the Open FAIR standard."""

    PRODUCTIVITY = "productivity"
    RESPONSE = "response"
    REPLACEMENT = "replacement"
    FINES_JUDGMENTS = "fines_judgments"
    COMPETITIVE_ADVANTAGE = "competitive_advantage"
    REPUTATION = "reputation"


class _Kind(enum.Enum):
    FREQUENCY = "a frequency (events per year, >= 0)"
    PROBABILITY = "a probability (0 to 1)"
    MONEY = "an amount of money (>= 0)"
    SCORE = "a capability/strength score (>= 0)"


@dataclass(frozen=True)
class TolerancePoint:
    """The organisation accepts at most ``probability`` of an annual loss above ``loss``."""

    loss: float
    probability: float


@dataclass(frozen=True)
class Scenario:
    """One FAIR loss scenario: frequency side, vulnerability side, magnitude side."""

    id: str
    name: str
    tef: Dist | None = None
    contact_frequency: Dist | None = None
    probability_of_action: Dist | None = None
    vulnerability: Dist | None = None
    threat_capability: Dist | None = None
    resistance_strength: Dist | None = None
    primary_loss: tuple[tuple[LossForm, Dist], ...] = ()
    secondary_frequency: Dist | None = None
    secondary_loss: tuple[tuple[LossForm, Dist], ...] = ()
    threats: tuple[str, ...] = ()
    risk: str | None = None
    description: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def inputs(self) -> list[tuple[str, Dist]]:
        """Every leaf input by name, in a fixed order (the tornado swings these)."""
        out: list[tuple[str, Dist]] = []
        for name in (
            "tef",
            "contact_frequency",
            "probability_of_action",
            "vulnerability",
            "threat_capability",
            "resistance_strength",
        ):
            d = getattr(self, name)
            if d is not None:
                out.append((name, d))
        out += [(f"primary_loss.{f.value}", d) for f, d in self.primary_loss]
        if self.secondary_frequency is not None:
            out.append(("secondary_loss.frequency", self.secondary_frequency))
        out += [(f"secondary_loss.magnitude.{f.value}", d) for f, d in self.secondary_loss]
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "name": self.name}
        for name, dist in self.inputs():
            d[name] = dist.to_dict()
        d["threats"] = list(self.threats)
        d["risk"] = self.risk
        return d


@dataclass(frozen=True)
class ScenarioSet:
    """A scenarios file: scenarios plus the portfolio's settings."""

    source: str
    scenarios: tuple[Scenario, ...]
    currency: str = "USD"
    thresholds: tuple[float, ...] = ()
    tolerance: tuple[TolerancePoint, ...] = ()
    correlation: tuple[tuple[str, ...], tuple[tuple[float, ...], ...]] | None = None

    def scenario(self, sid: str) -> Scenario:
        for s in self.scenarios:
            if s.id == sid:
                return s
        raise InputError(f"{self.source}: no scenario '{sid}'")


@dataclass(frozen=True)
class Control:
    """A control proposed for a what-if: its yearly cost and the inputs it changes."""

    source: str
    id: str
    name: str
    annual_cost: float
    effects: tuple[tuple[str, Mapping[str, Any]], ...]


# -- parsing helpers ----------------------------------------------------------------------


class _Ctx:
    def __init__(self, source: str, entry: str) -> None:
        self.source = source
        self.entry = entry

    def at(self, entry: str) -> _Ctx:
        return _Ctx(self.source, entry)

    def fail(self, field_: str, problem: str, fix: str) -> InputError:
        where = f"{self.entry}, field '{field_}'" if field_ else self.entry
        return InputError(f"{self.source}: {where}: {problem}; fix: {fix}")


def _num(ctx: _Ctx, fld: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ctx.fail(fld, f"{v!r} is not a number", "write a plain number such as 1000")
    x = float(v)
    if not math.isfinite(x):
        raise ctx.fail(fld, f"{v!r} is not finite", "write a finite number")
    return x


def _keys(ctx: _Ctx, fld: str, d: Mapping[str, Any], allowed: Sequence[str]) -> None:
    for k in d:
        if k not in allowed:
            raise ctx.fail(
                f"{fld}.{k}" if fld else str(k),
                f"unknown field '{k}'",
                f"use only: {', '.join(allowed)}",
            )


_DIST_FIELDS: dict[str, tuple[str, ...]] = {
    "pert": ("dist", "min", "mode", "max", "gamma"),
    "lognormal": ("dist", "p5", "p95"),
    "uniform": ("dist", "min", "max"),
    "constant": ("dist", "value"),
}


def _dist(ctx: _Ctx, fld: str, v: Any, kind: _Kind) -> Dist:
    if isinstance(v, int | float) and not isinstance(v, bool):
        d = Dist.constant(_num(ctx, fld, v))
    elif isinstance(v, Mapping):
        name = v.get("dist")
        if name not in _DIST_FIELDS:
            raise ctx.fail(
                f"{fld}.dist",
                f"unknown distribution {name!r}",
                "set dist to one of: pert, lognormal, uniform, constant",
            )
        _keys(ctx, fld, v, _DIST_FIELDS[name])
        missing = [k for k in _DIST_FIELDS[name][1:] if k not in v and k != "gamma"]
        if missing:
            raise ctx.fail(fld, f"{name} needs {', '.join(missing)}", f"add {', '.join(missing)}")
        p = {k: _num(ctx, f"{fld}.{k}", v[k]) for k in _DIST_FIELDS[name][1:] if k in v}
        match DistKind(name):
            case DistKind.PERT:
                if not p["min"] <= p["mode"] <= p["max"]:
                    raise ctx.fail(
                        fld,
                        f"min {p['min']:g}, mode {p['mode']:g}, max {p['max']:g} are out of order",
                        "set min <= mode <= max",
                    )
                gamma = p.get("gamma", 4.0)
                if not 0 < gamma <= 100:
                    raise ctx.fail(
                        f"{fld}.gamma",
                        f"gamma {gamma:g} is out of range",
                        "use 0 < gamma <= 100 (4 is standard)",
                    )
                d = Dist.pert(p["min"], p["mode"], p["max"], gamma)
            case DistKind.UNIFORM:
                if p["min"] > p["max"]:
                    raise ctx.fail(
                        fld, f"min {p['min']:g} is above max {p['max']:g}", "set min <= max"
                    )
                d = Dist.uniform(p["min"], p["max"])
            case DistKind.LOGNORMAL:
                if not 0 < p["p5"] < p["p95"]:
                    raise ctx.fail(
                        fld,
                        f"p5 {p['p5']:g} and p95 {p['p95']:g} are not a 90% interval",
                        "set 0 < p5 < p95",
                    )
                if kind is _Kind.PROBABILITY:
                    raise ctx.fail(
                        fld,
                        "a lognormal is unbounded and cannot be a probability",
                        "use pert or uniform between 0 and 1",
                    )
                d = Dist.lognormal(p["p5"], p["p95"])
            case DistKind.CONSTANT:
                d = Dist.constant(p["value"])
            case _ as unreachable:
                assert_never(unreachable)
    else:
        raise ctx.fail(
            fld,
            f"expected a number or a distribution, got {type(v).__name__}",
            "write e.g. {dist: pert, min: 1, mode: 2, max: 5}",
        )
    if d.low < 0:
        what = "negative frequency" if kind is _Kind.FREQUENCY else "negative value"
        raise ctx.fail(fld, f"{what} {d.low:g}", f"{fld} is {kind.value}: use values >= 0")
    if kind is _Kind.PROBABILITY and d.high > 1:
        raise ctx.fail(
            fld, f"probability {d.high:g} is above 1", f"{fld} is {kind.value}: use values <= 1"
        )
    return d


def _forms(ctx: _Ctx, fld: str, v: Any) -> tuple[tuple[LossForm, Dist], ...]:
    if not isinstance(v, Mapping) or not v:
        raise ctx.fail(
            fld,
            "expected a mapping of forms of loss to distributions",
            f"write e.g. {fld}: {{response: {{dist: pert, min: 1000, mode: 5000, max: 20000}}}}",
        )
    allowed = [f.value for f in LossForm]
    _keys(ctx, fld, v, allowed)
    return tuple(
        (LossForm(k), _dist(ctx, f"{fld}.{k}", v[k], _Kind.MONEY)) for k in allowed if k in v
    )


_SCENARIO_FIELDS = (
    "id",
    "name",
    "description",
    "threats",
    "risk",
    "tef",
    "contact_frequency",
    "probability_of_action",
    "vulnerability",
    "threat_capability",
    "resistance_strength",
    "primary_loss",
    "secondary_loss",
)


def _scenario(ctx: _Ctx, raw: Any) -> Scenario:
    if not isinstance(raw, Mapping):
        raise ctx.fail("", "expected a mapping", "write each scenario as a mapping with an id")
    sid = raw.get("id")
    if isinstance(sid, str) and not _ID.match(sid) and _ID.match(sid.lower().replace(":", ".")):
        # A finding id (AI-EXTRACTION:scoring-api) where the scenario id is expected.
        low = sid.lower().replace(":", ".")
        raise ctx.fail(
            "id",
            f"id {sid!r} is not lowercase",
            f"scenario ids are lowercase, write id: {low} (the seeded scenario of a finding "
            "RULE:element is rule.element lowercased; cite the finding under threats)",
        )
    if not isinstance(sid, str) or not _ID.match(sid):
        raise ctx.fail("id", f"bad or missing id {sid!r}", "use lowercase letters, digits, . _ -")
    ctx = ctx.at(f"scenario '{sid}'")
    _keys(ctx, "", raw, _SCENARIO_FIELDS)
    has_tef = "tef" in raw
    has_cf = "contact_frequency" in raw or "probability_of_action" in raw
    if has_tef == has_cf:
        raise ctx.fail(
            "tef",
            "give the threat event frequency either directly or as contact frequency x probability of action",
            "set tef, or both contact_frequency and probability_of_action",
        )
    if has_cf and not ("contact_frequency" in raw and "probability_of_action" in raw):
        raise ctx.fail(
            "contact_frequency",
            "needs both contact_frequency and probability_of_action",
            "add the missing one",
        )
    has_v = "vulnerability" in raw
    has_tc = "threat_capability" in raw or "resistance_strength" in raw
    if has_v == has_tc:
        raise ctx.fail(
            "vulnerability",
            "give vulnerability either directly or as threat capability vs resistance strength",
            "set vulnerability, or both threat_capability and resistance_strength",
        )
    if has_tc and not ("threat_capability" in raw and "resistance_strength" in raw):
        raise ctx.fail(
            "threat_capability",
            "needs both threat_capability and resistance_strength",
            "add the missing one",
        )
    if "primary_loss" not in raw:
        raise ctx.fail("primary_loss", "missing", "add at least one form of primary loss")

    def opt(name: str, kind: _Kind) -> Dist | None:
        return _dist(ctx, name, raw[name], kind) if name in raw else None

    sec_freq: Dist | None = None
    sec_loss: tuple[tuple[LossForm, Dist], ...] = ()
    if "secondary_loss" in raw:
        sl = raw["secondary_loss"]
        if not isinstance(sl, Mapping):
            raise ctx.fail("secondary_loss", "expected a mapping", "set frequency and magnitude")
        _keys(ctx, "secondary_loss", sl, ("frequency", "magnitude"))
        if "frequency" not in sl or "magnitude" not in sl:
            raise ctx.fail(
                "secondary_loss",
                "needs frequency and magnitude",
                "add both (frequency is a probability per loss event)",
            )
        sec_freq = _dist(ctx, "secondary_loss.frequency", sl["frequency"], _Kind.PROBABILITY)
        sec_loss = _forms(ctx, "secondary_loss.magnitude", sl["magnitude"])
    threats = raw.get("threats", [])
    if not isinstance(threats, list) or not all(isinstance(t, str) for t in threats):
        raise ctx.fail(
            "threats", "expected a list of threat finding ids", "write threats: [id, ...]"
        )
    risk = raw.get("risk")
    if risk is not None and not isinstance(risk, str):
        raise ctx.fail("risk", "expected a risk id", "write risk: risk-...")
    name = raw.get("name", sid)
    desc = raw.get("description")
    return Scenario(
        id=sid,
        name=str(name),
        tef=opt("tef", _Kind.FREQUENCY),
        contact_frequency=opt("contact_frequency", _Kind.FREQUENCY),
        probability_of_action=opt("probability_of_action", _Kind.PROBABILITY),
        vulnerability=opt("vulnerability", _Kind.PROBABILITY),
        threat_capability=opt("threat_capability", _Kind.SCORE),
        resistance_strength=opt("resistance_strength", _Kind.SCORE),
        primary_loss=_forms(ctx, "primary_loss", raw["primary_loss"]),
        secondary_frequency=sec_freq,
        secondary_loss=sec_loss,
        threats=tuple(threats),
        risk=risk,
        description=str(desc) if desc is not None else None,
        raw=copy.deepcopy(dict(raw)),
    )


def _load_yaml(path: Path) -> Any:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if size > MAX_SCENARIO_BYTES:
        raise InputError(
            f"{path}: {size} bytes is above the {MAX_SCENARIO_BYTES}-byte limit; fix: split the file"
        )
    return _parse_yaml(path.read_bytes(), str(path))


def _parse_yaml(data: bytes | str, source: str) -> Any:
    if len(data) > MAX_SCENARIO_BYTES:
        raise InputError(
            f"{source}: above the {MAX_SCENARIO_BYTES}-byte limit; fix: split the file"
        )
    try:
        return yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InputError(
            f"{source}:{where}: not valid YAML ({getattr(exc, 'problem', exc)}); fix: correct the syntax"
        ) from None


def merge_raw(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``over`` onto ``base``; a distribution (a mapping with ``dist``) is replaced whole."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        cur = out.get(k)
        if (
            isinstance(v, Mapping)
            and isinstance(cur, Mapping)
            and "dist" not in v
            and "dist" not in cur
        ):
            out[k] = merge_raw(cur, v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# Each side of the FAIR tree is given one way or the other: an override that gives one
# way replaces the base's other way (a seeded ``tef`` gives way to a user's contact
# frequency x probability of action).
_ALTERNATIVES = (
    (("tef",), ("contact_frequency", "probability_of_action")),
    (("vulnerability",), ("threat_capability", "resistance_strength")),
)


def merge_scenario(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``merge_raw`` for one scenario entry, aware of the FAIR tree's alternatives."""
    trimmed = dict(base)
    for a, b in _ALTERNATIVES:
        for mine, other in ((a, b), (b, a)):
            if any(k in over for k in mine):
                for k in other:
                    trimmed.pop(k, None)
    return merge_raw(trimmed, over)


_TOP = ("apiVersion", "kind", "currency", "thresholds", "tolerance", "correlation", "scenarios")


def parse_scenarios(doc: Any, source: str, *, base: Sequence[Scenario] = ()) -> ScenarioSet:
    """Validate a scenarios document. ``base`` scenarios (e.g. seeded from threats) are
    overridden field by field by same-id entries of the document and kept otherwise."""
    ctx = _Ctx(source, "top level")
    if isinstance(doc, bytes | str):
        doc = _parse_yaml(doc, source)
    if not isinstance(doc, Mapping):
        raise ctx.fail("", "expected a mapping with a 'scenarios' list", "see docs/risk.md")
    _keys(ctx, "", doc, _TOP)
    if "apiVersion" in doc and doc["apiVersion"] != "bastion/v1":
        raise ctx.fail(
            "apiVersion", f"apiVersion {doc['apiVersion']!r}", "set apiVersion: bastion/v1"
        )
    if doc.get("kind", "RiskScenarios") != "RiskScenarios":
        raise ctx.fail("kind", f"kind {doc.get('kind')!r}", "set kind: RiskScenarios")
    items = doc.get("scenarios", [])
    if not isinstance(items, list) or (not items and not base):
        raise ctx.fail("scenarios", "expected a non-empty list", "add at least one scenario")
    if len(items) + len(base) > MAX_SCENARIOS:
        raise ctx.fail("scenarios", f"more than {MAX_SCENARIOS} scenarios", "split the file")
    by_id: dict[str, Scenario] = {s.id: s for s in base}
    order = [s.id for s in base]
    seen: set[str] = set()
    for i, raw in enumerate(items):
        c = ctx.at(f"scenarios[{i}]")
        sid = raw.get("id") if isinstance(raw, Mapping) else None
        if isinstance(sid, str) and sid in seen:
            raise c.fail("id", f"duplicate scenario id '{sid}'", "give each scenario its own id")
        if isinstance(sid, str):
            seen.add(sid)
        if isinstance(sid, str) and sid in by_id:
            merged = merge_scenario(by_id[sid].raw, raw)
            by_id[sid] = _scenario(c, merged)
        else:
            s = _scenario(c, raw)
            by_id[s.id] = s
            order.append(s.id)
    currency = doc.get("currency", "USD")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise ctx.fail("currency", f"{currency!r} is not an ISO 4217 code", "write e.g. EUR")
    th = doc.get("thresholds", [])
    if not isinstance(th, list):
        raise ctx.fail(
            "thresholds", "expected a list of amounts", "write thresholds: [100000, 1000000]"
        )
    thresholds = tuple(_num(ctx, "thresholds", t) for t in th)
    tol = doc.get("tolerance", [])
    if not isinstance(tol, list):
        raise ctx.fail("tolerance", "expected a list of {loss, probability}", "see docs/risk.md")
    points: list[TolerancePoint] = []
    for j, p in enumerate(tol):
        if not isinstance(p, Mapping):
            raise ctx.fail(
                f"tolerance[{j}]",
                "expected {loss, probability}",
                "write {loss: 1000000, probability: 0.1}",
            )
        _keys(ctx, f"tolerance[{j}]", p, ("loss", "probability"))
        loss = _num(ctx, f"tolerance[{j}].loss", p.get("loss"))
        prob = _num(ctx, f"tolerance[{j}].probability", p.get("probability"))
        if loss <= 0 or not 0 <= prob <= 1:
            raise ctx.fail(
                f"tolerance[{j}]",
                f"loss {loss:g} / probability {prob:g} out of range",
                "use loss > 0 and 0 <= probability <= 1",
            )
        points.append(TolerancePoint(loss, prob))
    points.sort(key=lambda p: p.loss)
    correlation = None
    if "correlation" in doc:
        correlation = _correlation(ctx, doc["correlation"], set(by_id))
    return ScenarioSet(
        source=source,
        scenarios=tuple(by_id[i] for i in order),
        currency=currency,
        thresholds=thresholds,
        tolerance=tuple(points),
        correlation=correlation,
    )


def _correlation(
    ctx: _Ctx, v: Any, known: set[str]
) -> tuple[tuple[str, ...], tuple[tuple[float, ...], ...]]:
    import numpy as np

    if not isinstance(v, Mapping):
        raise ctx.fail("correlation", "expected {scenarios, matrix}", "see docs/risk.md")
    _keys(ctx, "correlation", v, ("scenarios", "matrix"))
    ids = v.get("scenarios")
    mat = v.get("matrix")
    if not isinstance(ids, list) or len(ids) < 2 or not isinstance(mat, list):
        raise ctx.fail(
            "correlation", "needs a list of 2+ scenario ids and a matrix", "see docs/risk.md"
        )
    for sid in ids:
        if sid not in known:
            raise ctx.fail(
                "correlation.scenarios", f"unknown scenario '{sid}'", "name scenarios of this file"
            )
    if len(set(ids)) != len(ids):
        raise ctx.fail("correlation.scenarios", "an id is repeated", "name each scenario once")
    n = len(ids)
    if len(mat) != n or not all(isinstance(r, list) and len(r) == n for r in mat):
        raise ctx.fail(
            "correlation.matrix", f"expected a {n}x{n} matrix", "one row and column per scenario"
        )
    m = np.array([[_num(ctx, "correlation.matrix", x) for x in r] for r in mat])
    if not np.allclose(m, m.T) or not np.allclose(np.diag(m), 1.0) or np.abs(m).max() > 1:
        raise ctx.fail(
            "correlation.matrix",
            "not a correlation matrix",
            "make it symmetric, with 1 on the diagonal and entries in [-1, 1]",
        )
    try:
        np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        raise ctx.fail(
            "correlation.matrix",
            "not positive definite",
            "lower the correlations so the matrix is positive definite",
        ) from None
    return tuple(ids), tuple(tuple(float(x) for x in r) for r in m)


def load_scenarios(path: str | Path, *, base: Sequence[Scenario] = ()) -> ScenarioSet:
    """Load and validate a scenarios YAML file (size-limited, safe loader)."""
    p = Path(path)
    return parse_scenarios(_load_yaml(p), str(p), base=base)


def parse_control(doc: Any, source: str, scenarios: ScenarioSet) -> Control:
    ctx = _Ctx(source, "control")
    if isinstance(doc, bytes | str):
        doc = _parse_yaml(doc, source)
    if not isinstance(doc, Mapping):
        raise ctx.fail("", "expected a mapping", "see docs/risk.md")
    _keys(ctx, "", doc, ("apiVersion", "kind", "id", "name", "annual_cost", "effects"))
    cid = doc.get("id")
    if not isinstance(cid, str) or not _ID.match(cid):
        raise ctx.fail("id", f"bad or missing id {cid!r}", "use lowercase letters, digits, . _ -")
    cost = _num(ctx, "annual_cost", doc.get("annual_cost"))
    if cost <= 0:
        raise ctx.fail(
            "annual_cost", f"cost {cost:g} must be positive", "give the control's yearly cost"
        )
    effects = doc.get("effects")
    if not isinstance(effects, list) or not effects:
        raise ctx.fail("effects", "expected a non-empty list", "add {scenario: id, set: {...}}")
    out: list[tuple[str, Mapping[str, Any]]] = []
    for i, e in enumerate(effects):
        c = ctx.at(f"effects[{i}]")
        if not isinstance(e, Mapping):
            raise c.fail("", "expected {scenario, set}", "see docs/risk.md")
        _keys(c, "", e, ("scenario", "set"))
        sid = e.get("scenario")
        if sid != "*" and sid not in {s.id for s in scenarios.scenarios}:
            raise c.fail(
                "scenario",
                f"unknown scenario {sid!r}",
                f"name a scenario of {scenarios.source} or '*'",
            )
        st = e.get("set")
        if not isinstance(st, Mapping) or not st:
            raise c.fail(
                "set",
                "expected the scenario fields the control changes",
                "e.g. set: {vulnerability: {dist: pert, ...}}",
            )
        bad = [k for k in st if k not in _SCENARIO_FIELDS or k in ("id", "name", "threats", "risk")]
        if bad:
            raise c.fail(
                f"set.{bad[0]}", f"unknown or fixed field '{bad[0]}'", "change only FAIR inputs"
            )
        targets = [s for s in scenarios.scenarios if sid in ("*", s.id)]
        for s in targets:  # validate now, so a bad range is refused before simulating
            _scenario(c.at(f"effects[{i}] on scenario '{s.id}'"), merge_scenario(s.raw, st))
        out.append((str(sid), dict(st)))
    return Control(source, cid, str(doc.get("name", cid)), cost, tuple(out))


def load_control(path: str | Path, scenarios: ScenarioSet) -> Control:
    p = Path(path)
    return parse_control(_load_yaml(p), str(p), scenarios)


def apply_control(scenarios: ScenarioSet, control: Control) -> ScenarioSet:
    """The scenario set as it would be with the control in place."""
    out: list[Scenario] = []
    for s in scenarios.scenarios:
        raw: dict[str, Any] = dict(s.raw)
        for sid, st in control.effects:
            if sid in ("*", s.id):
                raw = merge_scenario(raw, st)
        out.append(
            _scenario(_Ctx(control.source, f"scenario '{s.id}'"), raw) if raw != s.raw else s
        )
    return ScenarioSet(
        scenarios.source,
        tuple(out),
        scenarios.currency,
        scenarios.thresholds,
        scenarios.tolerance,
        scenarios.correlation,
    )
