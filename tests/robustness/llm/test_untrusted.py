"""What a target or a garak file sends back is untrusted: property tests that the
readers and detectors never crash on it, only answer or refuse with the room's error."""

from __future__ import annotations

import contextlib
import json
import random
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.robustness import RobustnessError
from bastion.robustness.llm import Plant, Reply, ToolCall, json_path, read_garak
from bastion.robustness.llm._detectors import detect, mask
from bastion.robustness.llm._targets import _content_text, _tool_calls

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
PLANT = Plant.fresh(random.Random(0))


@settings(max_examples=150, deadline=None)
@given(doc=JSON, path=st.text(alphabet="$.[]'\"0123abc_-*", max_size=24))
def test_json_path_answers_or_refuses(doc: Any, path: str) -> None:
    with contextlib.suppress(RobustnessError):
        json_path(doc, path)


@settings(max_examples=150, deadline=None)
@given(raw=JSON)
def test_tool_calls_and_content_parts_never_crash(raw: Any) -> None:
    calls = _tool_calls(raw)
    assert all(isinstance(c, ToolCall) and len(c.arguments) <= 4000 for c in calls)
    assert isinstance(_content_text(raw), str)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=400), names=st.lists(st.text(max_size=12), max_size=3))
def test_detectors_and_mask_never_crash(text: str, names: list[str]) -> None:
    reply = Reply(text, tuple(ToolCall(n, text[:50]) for n in names))
    for hit in detect(reply, PLANT, sent="x", proof_token="AAAAAA-BBBBBB"):
        assert hit.detector in {
            "proof",
            "canary",
            "pii",
            "secret",
            "markup",
            "exfil",
            "untrusted_image",
            "tool",
        }
    assert len(mask(text, PLANT)) <= 400


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(JSON | st.text(max_size=30), max_size=6))
def test_garak_reader_answers_or_refuses(tmp_path: Path, lines: list[Any]) -> None:
    f = tmp_path / "r.jsonl"
    f.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines), encoding="utf-8"
    )
    with contextlib.suppress(RobustnessError):
        read_garak(f)
