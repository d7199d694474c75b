"""Parsers of untrusted input in the governance parts never crash on bad bytes: they
answer or refuse with an InputError (constraint files, training batches, OpenLineage
events, retention policies, PIA answers)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core.errors import InputError
from bastion.privacy.lineage import validate_event
from bastion.privacy.retention import parse_policies
from bastion.privacy.validate import parse_constraints, read_frame

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.binary(max_size=400))
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_training_batches_answer_or_refuse(tmp_path: Path, raw: bytes) -> None:
    p = tmp_path / "batch.csv"
    p.write_bytes(raw)
    try:
        f = read_frame(p)
    except InputError:
        return
    assert all(len(v) == f.rows for v in f.columns.values())


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_documents_answer_or_refuse(text: str) -> None:
    for parse in (parse_constraints, parse_policies):
        with contextlib.suppress(InputError):
            parse(text)


@given(_JSON)
@settings(max_examples=300, deadline=None)
def test_lineage_events_answer_or_refuse(doc: object) -> None:
    message = None
    try:
        validate_event(doc)
    except InputError as exc:
        message = exc.message
    if message is None:  # only a document with the required shape gets through
        assert isinstance(doc, dict) and {"run", "job", "eventTime", "producer"} <= set(doc)
    else:
        assert message.startswith("not an OpenLineage RunEvent")
    json.dumps(doc)
