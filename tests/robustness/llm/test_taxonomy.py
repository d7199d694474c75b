"""The mapping shipped in the package: every ATLAS id and name is ATLAS v5.6.0's (as the
threats room ships it, itself checked against upstream), OWASP ids carry the edition."""

from __future__ import annotations

import pytest

from bastion.core.errors import InputError
from bastion.robustness import RobustnessError
from bastion.robustness.llm import (
    ATLAS_NAMES,
    FAMILIES,
    OWASP_NAMES,
    ProbeFamily,
    load_probes,
    parse_corpus,
    select_probes,
)
from bastion.threats import load_atlas


def test_atlas_ids_and_names_match_the_shipped_atlas() -> None:
    atlas = load_atlas()
    names = {t.id: t.name for t in atlas.techniques}
    assert {i: names.get(i) for i in ATLAS_NAMES} == ATLAS_NAMES
    for info in FAMILIES.values():
        assert set(info.atlas) <= set(ATLAS_NAMES)
    for p in load_probes():
        assert set(p.atlas_ids) <= set(ATLAS_NAMES), p.id


def test_owasp_2025_ids_carry_the_edition() -> None:
    assert OWASP_NAMES["LLM07"] == "System Prompt Leakage" and len(OWASP_NAMES) == 10
    assert FAMILIES[ProbeFamily.SYSTEM_PROMPT_LEAK].owasp == ("owasp-llm:2025:LLM07",)
    assert FAMILIES[ProbeFamily.EXCESSIVE_AGENCY].owasp == ("owasp-llm:2025:LLM06",)
    assert FAMILIES[ProbeFamily.INSECURE_OUTPUT].owasp[0] == "owasp-llm:2025:LLM05"
    assert set(FAMILIES) == set(ProbeFamily)


def test_selection_by_family_and_id_and_refusal() -> None:
    assert {p.family for p in select_probes("encoding")} == {ProbeFamily.ENCODING}
    assert [p.id for p in select_probes("leak.base64,agency.shell")] == [
        "leak.base64",
        "agency.shell",
    ]
    assert len(select_probes("all")) == len(load_probes())
    with pytest.raises(RobustnessError, match="unknown probe or family 'nope'"):
        select_probes("direct_injection,nope")


@pytest.mark.parametrize(
    ("yaml_text", "match"),
    [
        ("format: bastion.llm-probes/v1\nversion: '1'\nprobes:\n"
         "  - {id: a.b, family: jailbreak, goal: proof, prompt: x}\n"
         "  - {id: a.b, family: jailbreak, goal: proof, prompt: y}\n", "duplicate probe id a.b"),
        ("format: bastion.llm-probes/v1\nversion: '1'\nprobes:\n"
         "  - {id: a.b, family: jailbreak, goal: proof, prompt: x, atlas: [AML.T9999]}\n",
         "unknown ATLAS id AML.T9999"),
        ("format: bastion.llm-probes/v1\nversion: '1'\nprobes:\n"
         "  - {id: a.b, family: jailbreak, goal: proof, prompt: x, channel: tool}\n",
         "a channel needs a document"),
        ("format: bastion.llm-probes/v1\nversion: '1'\nprobes:\n"
         "  - {id: a.b, family: nope, goal: proof, prompt: x}\n", "probes.0.family"),
    ],
)  # fmt: skip
def test_a_bad_corpus_is_refused(yaml_text: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        parse_corpus(yaml_text)
