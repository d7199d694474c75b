"""The Sigma rule pack for logsource ``ai_gateway``: valid for pySigma, converted to Splunk
and Elastic queries, and run by the native evaluator over a crafted event stream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bastion.monitor import DetectionEngine, SigmaEvaluator, SigmaRuleError, rule_pack
from bastion.monitor.sigma import convert, load_rules, parse_rules, validate_with_pysigma
from tests.monitor.test_detections import T0, call, guard_finding

PACK = {r.title: r for r in rule_pack()}


def ids(matches: list[Any]) -> list[str]:
    return sorted({m.title for m in matches})


def test_the_pack_is_valid_for_pysigma() -> None:
    assert len(PACK) >= 8
    assert validate_with_pysigma() == []
    for r in rule_pack():
        if r.correlation is None:
            assert r.techniques or r.title.startswith("Bastion"), r.title


def test_pack_converts_to_splunk_and_elastic() -> None:
    spl = convert("splunk")
    assert len(spl) == len(PACK)
    assert any('api.operation IN ("download", "export"' in q for q in spl)
    burst = [q for q in spl if "event_count" in q]
    assert burst and "by _time actor.user.name" in burst[0] and "event_count >= 5" in burst[0]
    esql = convert("elastic")
    assert len(esql) == len(PACK)
    assert any('starts_with(finding_info.uid, "drift:")' in q for q in esql)
    assert any("stats event_count=count() by" in q for q in esql)
    lucene = convert("lucene")
    assert len(lucene) == len(PACK) - 1  # Lucene cannot count: the correlation is left out
    assert any("finding_info.analytic.name:*extraction*" in q for q in lucene)


def test_native_evaluator_fires_on_a_crafted_stream() -> None:
    ev = SigmaEvaluator()
    benign = [call("app", T0 + i * 1000) for i in range(20)]
    assert ev.run(benign) == []
    stream = [
        guard_finding("mallory", T0 + 30_000, "AML.T0024.002", "guard.extraction"),
        guard_finding("mallory", T0 + 31_000, "AML.T0040", "guard.probing"),
        call("mallory", T0 + 32_000, op="export_model"),
        *[call("eve", T0 + 40_000 + i * 1000, ok=False) for i in range(6)],
    ]
    found = ev.run(stream)
    assert ids(found) == sorted(
        {
            "AI model extraction reported by the gateway",
            "AI model probing reported by the gateway",
            "Download or export of AI model weights",
            "Denied request to the AI gateway",
            "Burst of denied requests by one principal",
        }
    )
    burst = [m for m in found if m.title.startswith("Burst")]
    assert len(burst) == 1 and burst[0].group == {"actor.user.name": "eve"}
    assert len(burst[0].event_uids) == 5
    ext = next(m for m in found if "extraction" in m.title)
    assert ext.techniques == ("AML.T0024.002",) and ext.level == "high"


def test_rules_and_bastion_detections_agree() -> None:
    """The pack's rule on Bastion's own detections matches what the engine emits."""
    found = DetectionEngine().run([call("eve", T0 + i, ok=False) for i in range(5)])
    ev = SigmaEvaluator([PACK["Bastion correlated detection"]])
    assert [m.title for m in ev.run([d.to_ocsf() for d in found])] == [
        "Bastion correlated detection"
    ]


RULE = """
title: t
id: 00000000-0000-4000-8000-000000000001
logsource: {product: ai_gateway}
detection:
  sel:
    api.operation|re: '^exp(ort)?$'
    status_id|gte: 1
  other:
    actor.user.name|startswith: ['ad', 'ro']
  filt:
    src_endpoint.ip|exists: true
  condition: (sel or 1 of oth*) and not filt
"""


def test_native_modifiers_and_conditions() -> None:
    (r,) = parse_rules(RULE, "t.yaml")
    ev = {"api": {"operation": "export"}, "status_id": 1, "actor": {"user": {"name": "z"}}}
    assert r.matches(ev)
    assert r.matches({"actor": {"user": {"name": "ROOT"}}})  # case-insensitive
    assert not r.matches({**ev, "src_endpoint": {"ip": "1.2.3.4"}})
    assert not r.matches({"api": {"operation": "exports"}, "status_id": 1})
    assert not r.matches({"api": {"operation": "export"}, "status_id": 0})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: t\nid: x\nlogsource: {product: other}\ndetection: {a: {b: 1}, condition: a}",
         "logsource product must be ai_gateway"),
        ("title: t\nid: x\nlogsource: {product: ai_gateway}\ndetection: {a: {b|wat: 1}, "
         "condition: a}", "modifier 'wat' is not supported"),
        ("title: t\nid: x\nlogsource: {product: ai_gateway}\ndetection: {a: {b: 1}, "
         "condition: a and zz}", "names no detection 'zz'"),
        ("title: t\nid: x\nlogsource: {product: ai_gateway}\ndetection: {a: {b: 1}, "
         "condition: a and (}", "condition"),
        ("title: t\nid: x\nlogsource: {product: ai_gateway}\ndetection: {a: [x, y], "
         "condition: a}", "keyword lists are not supported"),
        ("title: t\nlogsource: {product: ai_gateway}", "'id' is missing"),
        ("title: [unclosed", "not valid YAML at line"),
        ("title: t\nid: x\ncorrelation: {type: temporal, rules: [a], timespan: 1m}",
         "only event_count"),
    ],
)  # fmt: skip
def test_bad_rules_are_refused(text: str, message: str) -> None:
    with pytest.raises(SigmaRuleError, match=message.replace("(", r"\(")):
        parse_rules(text, "bad.yaml")


def test_rule_files_and_references(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(RULE)
    (tmp_path / "b.yml").write_text(
        "title: c\nid: c1\ncorrelation: {type: event_count, rules: [missing], timespan: 5m, "
        "condition: {gte: 2}}\n"
    )
    with pytest.raises(SigmaRuleError, match="unknown rule"):
        load_rules([tmp_path])
    (tmp_path / "b.yml").write_text(RULE)
    with pytest.raises(SigmaRuleError, match=r"is used by a\.yml and b\.yml"):
        load_rules([tmp_path])
    (tmp_path / "b.yml").unlink()
    assert [r.id for r in load_rules([tmp_path])] == ["00000000-0000-4000-8000-000000000001"]
    with pytest.raises(SigmaRuleError, match=r"refused|cannot convert"):
        convert("splunk", parse_rules(RULE.replace("|re", "|re|gte"), "x.yaml"))


def test_unknown_target_is_refused() -> None:
    with pytest.raises(Exception, match="unknown target"):
        convert("qradar")


def test_fields_through_lists_natively_and_in_splunk() -> None:
    """A guard finding names its technique only in ``finding_info.attacks[]``: the native
    evaluator walks the list, and Splunk gets its ``{}`` array field name."""
    ev = SigmaEvaluator([PACK["AI model extraction reported by the gateway"]])
    prada = guard_finding("mallory", T0, "AML.T0024.002", "prada")
    assert [m.title for m in ev.run([prada])] == ["AI model extraction reported by the gateway"]
    blacklight = guard_finding("mallory", T0, "AML.T0043", "blacklight")
    assert ev.run([blacklight]) == []
    spl = convert("splunk")
    assert any('"finding_info.attacks{}.technique.uid"="AML.T0024*"' in q for q in spl)
    assert any("starts_with(finding_info.attacks.technique.uid" in q for q in convert("elastic"))
