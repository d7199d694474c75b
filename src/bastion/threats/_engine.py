"""Evaluate rules over the data-flow graph; every answer carries its reason.

A condition evaluates to ``(bool, reason)``: the reason of a true condition says why it
holds, the reason of a false one why it does not, so a finding can say both why it fired
and why it is (or is not) mitigated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Verdict
from bastion.manifest import Asset, Authentication, DataFlow, PiiCategory
from bastion.threats._graph import ThreatGraph
from bastion.threats._rules import Condition, PropertyTest

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace

__all__ = ["Evaluator"]

Element = Asset | DataFlow
Result = tuple[bool, str]


class Evaluator:
    """Evaluates conditions against one graph, with an optional workspace for evidence."""

    def __init__(
        self,
        graph: ThreatGraph,
        workspace: Workspace | None = None,
        local: dict[tuple[str, str], tuple[Verdict, str]] | None = None,
    ) -> None:
        self.g = graph
        self.ws = workspace
        # Results of checks run in this invocation, keyed (check, element), with a label
        # saying where they come from: they count like recorded evidence.
        self.local = local or {}
        self._evidence: dict[tuple[str, str], Verdict | None] = {}
        self._dispatch: dict[int, Callable[[Condition, Element], Result]] = {}
        self._keep: list[Condition] = []
        self._ops: dict[str, Callable[[Condition, Element], Result]] = {
            "all_": self._all,
            "any_": self._any,
            "not_": self._not,
            "kind": self._kind,
            "property": self._property,
            "classification": self._classification,
            "pii": self._pii,
            "authenticated": self._authenticated,
            "authentication": self._authentication,
            "encrypted": self._encrypted,
            "hosting": self._hosting,
            "tag": self._tag,
            "protocol": self._protocol,
            "crosses_boundary": self._crosses,
            "source": self._end,
            "target": self._end,
            "receives_from": self._neighbour,
            "sends_to": self._neighbour,
            "lineage": self._lineage,
            "evidence": self._evidence_test,
            "system": self._system,
        }

    def eval(self, c: Condition, el: Element) -> Result:
        fn = self._dispatch.get(id(c))
        if fn is None:  # conditions live as long as their rule set: id() is stable
            fn = self._dispatch[id(c)] = self._ops[c.op()]
            self._keep.append(c)
        return fn(c, el)

    # -- combinators ---------------------------------------------------------------

    def _all(self, c: Condition, el: Element) -> Result:
        reasons: list[str] = []
        for sub in c.all_ or ():
            ok, why = self.eval(sub, el)
            if not ok:
                return False, why
            reasons.append(why)
        return True, "; ".join(reasons)

    def _any(self, c: Condition, el: Element) -> Result:
        fails: list[str] = []
        for sub in c.any_ or ():
            ok, why = self.eval(sub, el)
            if ok:
                return True, why
            fails.append(why)
        return False, "none of: " + " | ".join(fails)

    def _not(self, c: Condition, el: Element) -> Result:
        assert c.not_ is not None
        ok, why = self.eval(c.not_, el)
        return (not ok), why

    # -- element tests -------------------------------------------------------------

    def _kind(self, c: Condition, el: Element) -> Result:
        kinds = c.kind or []
        if not isinstance(el, Asset):
            return False, "a flow has no asset kind"
        ok = el.kind in kinds
        return ok, f"{el.id} is of kind {el.kind.value}" + (
            "" if ok else " (rule wants " + ", ".join(kinds) + ")"
        )

    def _property(self, c: Condition, el: Element) -> Result:
        t: PropertyTest = c.property  # type: ignore[assignment]
        props = el.properties if isinstance(el, Asset) else {}
        v = props.get(t.name)
        if v is None:
            if t.exists is False:
                return True, f"{el.id} has no property {t.name}"
            return False, f"{el.id} has no property {t.name}"
        shown = f"{el.id}.properties.{t.name} = {v!r}"
        if t.exists is not None:
            return t.exists, shown
        if t.equals is not None:
            return _same(v, t.equals), shown + (
                "" if _same(v, t.equals) else f" (not {t.equals!r})"
            )
        if t.in_ is not None:
            ok = any(_same(v, x) for x in t.in_)
            return ok, shown + ("" if ok else f" (not one of {t.in_})")
        if t.contains is not None:
            ok = isinstance(v, str) and t.contains.lower() in v.lower()
            return ok, shown + ("" if ok else f" (does not mention {t.contains!r})")
        if t.gte is not None or t.lte is not None:
            if isinstance(v, bool) or not isinstance(v, int | float):
                return False, shown + " (not a number)"
            ok = (t.gte is None or v >= t.gte) and (t.lte is None or v <= t.lte)
            return ok, shown
        return True, shown

    def _classification(self, c: Condition, el: Element) -> Result:
        assert c.classification is not None
        want = c.classification.at_least
        ok = el.classification.at_least(want)
        return ok, f"{el.id} is classified {el.classification.value}" + (
            "" if ok else f" (below {want.value})"
        )

    def _pii(self, c: Condition, el: Element) -> Result:
        if isinstance(el, DataFlow):
            ends = [self.g.assets[el.source], self.g.assets[el.target]]
            cats = sorted(
                {p.value for a in ends for p in a.pii_categories if p is not PiiCategory.NONE}
            )
            if c.pii == "special":
                cats = [x for x in cats if PiiCategory(x).special_category]
            return bool(cats), (
                f"flow {el.id} connects assets holding personal data ({', '.join(cats)})"
                if cats
                else f"neither end of flow {el.id} holds {'special-category ' if c.pii == 'special' else ''}personal data"
            )
        cats = [p.value for p in el.pii_categories if p is not PiiCategory.NONE]
        if c.pii == "special":
            cats = [x for x in cats if PiiCategory(x).special_category]
        return bool(cats), (
            f"{el.id} holds personal data ({', '.join(cats)})"
            if cats
            else f"{el.id} holds no {'special-category ' if c.pii == 'special' else ''}personal data"
        )

    def _authenticated(self, c: Condition, el: Element) -> Result:
        auth = el.authentication
        ok = auth is not Authentication.NONE
        return ok is c.authenticated, (
            f"{el.id} authenticates callers ({auth.value})"
            if ok
            else f"{el.id} declares no authentication"
        )

    def _authentication(self, c: Condition, el: Element) -> Result:
        ok = el.authentication in (c.authentication or [])
        return ok, f"{el.id} uses {el.authentication.value} authentication" + (
            "" if ok else " (rule wants " + ", ".join(c.authentication or []) + ")"
        )

    def _encrypted(self, c: Condition, el: Element) -> Result:
        if c.encrypted == "at_rest":
            ok = isinstance(el, Asset) and el.encryption.at_rest
            return ok, f"{el.id} is {'' if ok else 'not '}encrypted at rest"
        ok = el.encryption.in_transit
        return ok, f"{el.id} is {'' if ok else 'not '}encrypted in transit"

    def _hosting(self, c: Condition, el: Element) -> Result:
        env = el.hosting.environment if isinstance(el, Asset) and el.hosting else None
        ok = env is not None and env in (c.hosting or [])
        return ok, f"{el.id} is hosted {env.value if env else 'nowhere declared'}"

    def _tag(self, c: Condition, el: Element) -> Result:
        assert c.tag is not None
        tags = el.tags if isinstance(el, Asset) else {}
        v = tags.get(c.tag.name)
        ok = v is not None and (c.tag.equals is None or v == c.tag.equals)
        return (
            ok,
            f"{el.id}.tags.{c.tag.name} = {v!r}"
            if v is not None
            else f"{el.id} has no tag {c.tag.name}",
        )

    def _protocol(self, c: Condition, el: Element) -> Result:
        if not isinstance(el, DataFlow):
            return False, "an asset has no protocol"
        ok = el.protocol in (c.protocol or [])
        return ok, f"flow {el.id} uses {el.protocol.value}"

    def _crosses(self, c: Condition, el: Element) -> Result:
        assert c.crosses_boundary is not None
        kinds = c.crosses_boundary.kinds
        flows = [el] if isinstance(el, DataFlow) else self.g.flows_in[el.id]
        for f in flows:
            hit = [b for b in self.g.crossings(f.id) if kinds is None or b.kind in kinds]
            if hit:
                return True, f"flow {f.id} crosses trust boundary " + ", ".join(b.id for b in hit)
        if isinstance(el, DataFlow):
            return False, f"flow {el.id} does not cross a trust boundary"
        return False, f"no inbound flow of {el.id} crosses a trust boundary"

    def _end(self, c: Condition, el: Element) -> Result:
        if not isinstance(el, DataFlow):
            return False, "an asset has no source or target"
        end = "source" if c.source is not None else "target"
        sub = c.source if c.source is not None else c.target
        assert sub is not None
        asset = self.g.assets[el.source if end == "source" else el.target]
        ok, why = self.eval(sub, asset)
        return ok, f"{end} of flow {el.id}: {why}"

    def _neighbour(self, c: Condition, el: Element) -> Result:
        inbound = c.receives_from is not None
        sub = c.receives_from if inbound else c.sends_to
        assert sub is not None
        if not isinstance(el, Asset):
            return False, "a flow has no neighbours"
        flows = self.g.flows_in[el.id] if inbound else self.g.flows_out[el.id]
        for f in flows:
            other = self.g.assets[f.source if inbound else f.target]
            ok, why = self.eval(sub, other)
            if ok:
                arrow = f"receives from {other.id}" if inbound else f"sends to {other.id}"
                return True, f"{el.id} {arrow} via {f.id} ({why})"
        verb = "receives from" if inbound else "sends to"
        return False, f"{el.id} {verb} no matching asset"

    def _lineage(self, c: Condition, el: Element) -> Result:
        assert c.lineage is not None
        if not isinstance(el, Asset):
            return False, "a flow has no lineage"
        for up in self.g.upstream(el.id):
            ok, why = self.eval(c.lineage, self.g.assets[up])
            if ok:
                return True, f"upstream of {el.id}: {why}"
        return False, f"no upstream asset of {el.id} matches"

    def _system(self, c: Condition, el: Element) -> Result:
        assert c.system is not None
        s = self.g.manifest.system
        t = c.system
        if t.autonomy_level is not None and s.autonomy_level not in t.autonomy_level:
            return False, f"system autonomy is {s.autonomy_level.value}"
        if t.decision_impact is not None and not set(s.decision_impact) & set(t.decision_impact):
            return False, "system decision impact is " + ", ".join(s.decision_impact)
        return True, (
            f"system autonomy is {s.autonomy_level.value}, decision impact "
            + ", ".join(s.decision_impact)
        )

    def _evidence_test(self, c: Condition, el: Element) -> Result:
        assert c.evidence is not None
        check, want = c.evidence.check, c.evidence.verdict
        here = self.local.get((check, el.id))
        if here is not None:
            return here[0] is want, f"{here[1]} gives check {check} for {el.id}: {here[0].value}"
        if self.ws is None:
            return False, f"no evidence of check {check} (modeled without a workspace)"
        got = self._latest_verdict(check, el.id)
        if got is None:
            return False, f"no evidence of check {check} for {el.id}"
        return got is want, f"latest evidence of check {check} for {el.id} is {got.value}"

    def _latest_verdict(self, check: str, element_id: str) -> Verdict | None:
        key = (check, element_id)
        if key in self._evidence:
            return self._evidence[key]
        assert self.ws is not None
        sys_id = self.g.manifest.system.id
        best = None
        for ref in (f"{sys_id}/{element_id}", element_id):
            for ev in self.ws.evidence.list(
                EvidenceQuery(check_id=check, subject_ref=ref, limit=1)
            ):
                if best is None or ev.created_at > best.created_at:
                    best = ev
        verdict = best.verdict if best is not None else None
        self._evidence[key] = verdict
        return verdict


def _same(v: object, want: object) -> bool:
    if isinstance(v, bool) or isinstance(want, bool):
        return v is want
    if isinstance(v, str) and isinstance(want, str):
        return v.lower() == want.lower()
    return v == want
