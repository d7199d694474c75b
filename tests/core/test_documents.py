"""core/documents.load_document: the one reader of policy, catalog and configuration YAML
(issue 13's tidy-house rule: gate policies, control catalogs, the governance file and
masking policies all read through it)."""

from __future__ import annotations

import inspect

import pytest
from pydantic import BaseModel, ConfigDict, Field

from bastion.compliance import _controls
from bastion.core.documents import load_document
from bastion.core.errors import InputError
from bastion.governance import _config
from bastion.privacy.deid import _policy as deid_policy
from bastion.registry import _policy as gate_policy


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=5)
    items: tuple[int, ...] = ()


def test_finding_13_load_document_validates_and_names_the_first_problem() -> None:
    assert load_document("name: a\nitems: [1, 2]\n", _Doc, what="d.yaml", max_bytes=100).items == (
        1,
        2,
    )
    with pytest.raises(InputError, match=r"^d\.yaml is larger than 10 bytes$"):
        load_document("name: abcdefgh\n", _Doc, what="d.yaml", max_bytes=10)
    with pytest.raises(InputError, match=r"^d\.yaml must be a mapping with name$"):
        load_document("[1, 2]", _Doc, what="d.yaml", max_bytes=100, shape="a mapping with name")
    with pytest.raises(InputError, match=r"^d\.yaml: items\.1: .*integer"):
        load_document("name: a\nitems: [1, x]\n", _Doc, what="d.yaml", max_bytes=100)
    with pytest.raises(InputError, match=r"\(2 problem\(s\) in all\)"):
        load_document("name: toolong\nextra: 1\n", _Doc, what="d.yaml", max_bytes=100)


def test_finding_13_load_document_never_echoes_values_and_refuses_aliases() -> None:
    with pytest.raises(InputError, match=r"^d\.yaml is not valid YAML at line 2") as err:
        load_document("name: a\n  s3cret: [\n", _Doc, what="d.yaml", max_bytes=100)
    assert "s3cret" not in str(err.value)
    laughs = 'a: &a ["x", "x"]\nb: &b [*a, *a]\nname: *b\n'
    with pytest.raises(InputError, match="YAML aliases"):
        load_document(laughs, _Doc, what="d.yaml", max_bytes=1000)


def test_finding_13_every_document_parser_uses_load_document() -> None:
    for parse in (
        gate_policy.parse_policy,
        _controls.parse_catalog,
        _config.parse_config,
        deid_policy.parse_policy,
    ):
        src = inspect.getsource(parse)
        assert "load_document(" in src and "safe_load" not in src, parse.__qualname__
    with pytest.raises(InputError, match=r"^gate policy must be a mapping with kind: GatePolicy"):
        gate_policy.parse_policy("- 1\n")
    with pytest.raises(InputError, match=r"^policy is larger than"):
        deid_policy.parse_policy("x" * (deid_policy.MAX_POLICY_BYTES + 1))


def test_finding_13_threats_safe_yaml_parses_through_core() -> None:
    from bastion.threats._rules import safe_yaml

    assert safe_yaml(b"a: [1, 2]\n", "rules.yaml", 100) == {"a": [1, 2]}
    with pytest.raises(InputError, match=r"^rules\.yaml is not valid YAML at line 2"):
        safe_yaml(b"a: 1\n  b: [\n", "rules.yaml", 100)
    with pytest.raises(InputError, match="YAML aliases"):
        safe_yaml(b"a: &x 1\nb: *x\n", "rules.yaml", 100)
    with pytest.raises(InputError, match="file is larger than 4 bytes"):
        safe_yaml(b"a: 1\n", "rules.yaml", 4)
