"""Parsers of untrusted input never crash: any text given as a playbook or a Sigma rule,
any JSON given as a custody report or as events, ends in a clear refusal or a report of
problems, never in another exception."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core.errors import InputError
from bastion.incidents import PlaybookError, parse_playbook, verify_report
from bastion.incidents._custody import REPORT_FORMAT
from bastion.monitor import DetectionEngine, SigmaEvaluator, SigmaRuleError
from bastion.monitor.sigma import parse_rules

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
KEYS = ["format", "signing_key", "public_key", "artifacts", "artifact", "chain", "statement",
        "statement_digest", "signature", "ledger", "proof", "id", "digest", "size", "seq",
        "prev", "action", "holder", "to", "kind", "data", "time", "actor", "leaf_hash",
        "checkpoint", "root_hash", "tree_size", "leaf_index", "inclusion_path"]  # fmt: skip
shaped = st.recursive(
    st.none() | st.integers(-3, 3) | st.text(max_size=8) | st.sampled_from(KEYS),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS), children, max_size=5)
    ),
    max_leaves=30,
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.text(max_size=400))
def test_any_text_as_a_playbook(text: str) -> None:
    with contextlib.suppress(PlaybookError):
        parse_playbook(text)


@FAST
@given(json_values)
def test_any_yaml_structure_as_a_playbook(doc: Any) -> None:
    with contextlib.suppress(PlaybookError):
        parse_playbook(json.dumps(doc))


@FAST
@given(st.text(max_size=400))
def test_any_text_as_a_sigma_rule(text: str) -> None:
    with contextlib.suppress(SigmaRuleError):
        parse_rules(text, "fuzz.yml")


@FAST
@given(json_values)
def test_any_structure_as_a_sigma_rule(doc: Any) -> None:
    with contextlib.suppress(SigmaRuleError):
        parse_rules(json.dumps(doc), "fuzz.yml")


@FAST
@given(shaped)
def test_any_custody_report_is_judged_not_crashed(doc: Any) -> None:
    report = doc if isinstance(doc, dict) else {"artifacts": doc}
    report = {**report, "format": REPORT_FORMAT,
              "signing_key": {"public_key": "A" * 43 + "="}}  # fmt: skip
    check = verify_report(report, artifacts={"x": b""})
    assert not check.ok and check.problems


@FAST
@given(st.lists(st.dictionaries(st.sampled_from(
    ["class_uid", "status_id", "activity_id", "time", "actor", "finding_info", "api",
     "src_endpoint", "ai", "metadata"]), json_values, max_size=6), max_size=8))  # fmt: skip
def test_any_events_through_the_rules(events: list[dict[str, Any]]) -> None:
    eng, sigma = DetectionEngine(), SigmaEvaluator()
    for e in events:
        with contextlib.suppress(InputError):  # an event without a time is refused by name
            eng.process(e)
        sigma.process(e)
