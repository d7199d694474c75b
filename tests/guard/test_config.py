from __future__ import annotations

from pathlib import Path

import pytest

from bastion.core.errors import InputError
from bastion.core.workspace import Workspace
from bastion.guard import config_digest, load_guard_config, parse_guard_config, record_config

BASE = """
name: g
endpoints:
  - name: credit
    upstream: http://127.0.0.1:9000/predict
    model: credit-gbm@3
    features: [a, b]
egress:
  - {host: 127.0.0.1, port: 9000}
"""


def test_valid_config_and_defaults() -> None:
    c = parse_guard_config(BASE)
    (e,) = c.endpoints
    assert (e.model_name, e.model_version, e.kind.value) == ("credit-gbm", "3", "tabular")
    assert c.rate_classes["default"].rate_per_s == 100
    assert c.limits.max_body_bytes == 1024 * 1024


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE.replace("egress:\n  - {host: 127.0.0.1, port: 9000}", "egress: []"),
         "not in the egress allowlist"),
        (BASE.replace("credit-gbm@3", "credit-gbm"), "endpoints.credit.model"),
        (BASE.replace("features: [a, b]", "features: []"), "names its features"),
        (BASE.replace("http://127.0.0.1", "file://127.0.0.1"), "http:// or https://"),
        (BASE.replace("http://127.0.0.1", "http://u:p@127.0.0.1"), "credentials"),
        (BASE + "surprise: 1\n", "surprise"),
        (BASE + "a: &x 1\nb: *x\n", "aliases"),
        ("[1, 2]", "must be a mapping"),
        ("name: g\nendpoints: [\n", "not valid YAML"),
    ],
)  # fmt: skip
def test_invalid_configs_name_the_field(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_guard_config(text)


def test_oversized_config_refused(tmp_path: Path) -> None:
    p = tmp_path / "g.yaml"
    p.write_text(BASE + "#" * (1024 * 1024))
    with pytest.raises(InputError, match="larger than"):
        load_guard_config(p)


def test_config_change_is_a_ledger_event(sqlite_ws: Workspace) -> None:
    c = parse_guard_config(BASE)
    first = record_config(sqlite_ws, c, actor="test")
    assert first is not None
    assert record_config(sqlite_ws, c, actor="test") is None  # unchanged: nothing new
    c2 = parse_guard_config(BASE.replace("credit-gbm@3", "credit-gbm@4"))
    assert record_config(sqlite_ws, c2, actor="test") is not None
    events = sqlite_ws.ledger.entries(kind="guard.config", limit=10)
    assert [e.data["endpoints"][0]["model"] for e in events] == ["credit-gbm@3", "credit-gbm@4"]
    assert events[1].data["previous"] == config_digest(c)
