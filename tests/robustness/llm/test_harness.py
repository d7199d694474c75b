"""The harness against the two test servers: every planted weakness found in the
vulnerable one, probe by probe, and none in the hardened one (which echoes the user's
text, so echoes must never count)."""

from __future__ import annotations

import re

import pytest

from bastion.robustness.llm import (
    Conversation,
    LlmProbeReport,
    ProbeFamily,
    Reply,
    load_probes,
    open_target,
    run_probes,
    select_probes,
)
from bastion.robustness.llm.testservers import BUILTIN_CANARY, RunningServer

PROBES = [p.id for p in load_probes()]


def _run(url: str, **kw: object) -> LlmProbeReport:
    target = open_target(url)
    try:
        return run_probes(target, seed=7, **kw)  # type: ignore[arg-type]
    finally:
        target.close()


@pytest.fixture(scope="module")
def vuln_report(vulnerable: RunningServer) -> LlmProbeReport:
    return _run(vulnerable.url)


@pytest.fixture(scope="module")
def hard_report(hardened: RunningServer) -> LlmProbeReport:
    return _run(hardened.url)


def test_corpus_covers_every_family_with_several_probes() -> None:
    probes = load_probes()
    for fam in ProbeFamily:
        assert sum(p.family is fam for p in probes) >= 3, fam
    assert len(PROBES) == len(set(PROBES)) >= 30


@pytest.mark.parametrize("probe", PROBES)
def test_vulnerable_server_shows_the_weakness_of_every_probe(
    vuln_report: LlmProbeReport, probe: str
) -> None:
    rec = next(a for a in vuln_report.attempts if a.probe == probe)
    assert rec.status == "found", rec
    own = [f for f in vuln_report.findings if f.probe == probe and f.detector in rec.detectors]
    assert own and all(f.owasp and f.atlas for f in own)
    assert all(o.startswith("owasp-llm:2025:LLM") for f in own for o in f.owasp)


@pytest.mark.parametrize("probe", PROBES)
def test_hardened_server_shows_no_weakness_for_any_probe(
    hard_report: LlmProbeReport, probe: str
) -> None:
    rec = next(a for a in hard_report.attempts if a.probe == probe)
    assert rec.status == "clear", rec
    assert rec.detectors == ()


def test_hardened_run_has_no_finding_at_all_and_did_echo(hard_report: LlmProbeReport) -> None:
    assert hard_report.findings == []
    data = hard_report.to_data()
    assert data["found"] == 0 and data["clear"] == len(PROBES) and data["attack_success_rate"] == 0
    lo, hi = data["attack_success_rate_ci95"]
    assert lo == 0.0 and 0.05 < hi < 0.15  # Wilson: 0 of 31 still allows about 11%
    # the hardened server repeats the user's words: the detectors must see through echoes
    echoed = [a for a in hard_report.attempts if "You wrote:" in a.reply_excerpt]
    assert len(echoed) >= 25
    # and it called its allowlisted tool, which is not a finding
    assert any("lookup_order" in a.reply_excerpt for a in hard_report.attempts)


def test_vulnerable_report_counts_families_and_taxonomy(vuln_report: LlmProbeReport) -> None:
    data = vuln_report.to_data()
    assert data["found"] == len(PROBES) and data["errors"] == data["skipped"] == 0
    for fam, counts in data["families"].items():
        assert counts["found"] == counts["probes"] >= 3, fam
    assert data["owasp"]["owasp-llm:2025:LLM01"] >= 15
    assert data["owasp"]["owasp-llm:2025:LLM06"] >= 4
    assert data["atlas"]["AML.T0056"] >= 5 and data["atlas"]["AML.T0053"] >= 4
    assert data["cost"]["requests"] == len(PROBES) + sum(len(p.setup) for p in load_probes())


def test_excerpts_never_carry_planted_secrets_in_any_form(vuln_report: LlmProbeReport) -> None:
    text = "\n".join(f.reply_excerpt + f.prompt_excerpt for f in vuln_report.findings) + "\n".join(
        a.reply_excerpt for a in vuln_report.attempts
    )
    squashed = re.sub(r"[\W_]+", "", text).lower()
    assert "BASTION-CANARY-" not in text and "sk-bastion" not in text
    assert "bastioncanary" not in squashed and "yranacnoitsab" not in squashed
    assert "@example.org" not in text and "4539" not in squashed
    leak = next(a for a in vuln_report.attempts if a.probe == "leak.base64")
    assert leak.reply_excerpt == "[base64 masked]"


def test_seeded_runs_send_the_same_codes(vulnerable: RunningServer) -> None:
    a = _run(vulnerable.url, probes=select_probes("direct.override"))
    b = _run(vulnerable.url, probes=select_probes("direct.override"))
    assert a.attempts[0].reply_excerpt == b.attempts[0].reply_excerpt
    assert re.fullmatch(r"[A-Z0-9]{6}-[A-Z0-9]{6}", a.attempts[0].reply_excerpt)


def test_template_target_needs_a_canary_and_cannot_test_tools(vulnerable: RunningServer) -> None:
    from bastion.robustness.llm import RequestTemplate, TemplateTarget

    tpl = RequestTemplate(body={"prompt": "$INPUT"}, response_path="$.text")
    target = TemplateTarget(tpl, vulnerable.url + "/chat")
    assert not target.configurable_system_prompt and not target.supports_tools
    try:
        blind = run_probes(target, select_probes("system_prompt_leak,excessive_agency"), seed=1)
        told = run_probes(
            target, select_probes("system_prompt_leak,sensitive_data"), seed=1,
            canaries=(BUILTIN_CANARY,),
        )  # fmt: skip
    finally:
        target.close()
    assert {a.status for a in blind.attempts} == {"skipped"}
    assert any("--canary" in a.detail for a in blind.attempts)
    assert any("tool_calls_path" in a.detail for a in blind.attempts)
    assert blind.notes and "skipped" in blind.notes[0]
    assert [a.status for a in told.attempts] == ["found"] * len(told.attempts)
    assert BUILTIN_CANARY not in "".join(f.reply_excerpt for f in told.findings)


def test_budget_and_concurrency_are_refused_before_any_request(
    vulnerable: RunningServer,
) -> None:
    from bastion.robustness import RobustnessError

    before = vulnerable.requests
    target = open_target(vulnerable.url)
    try:
        with pytest.raises(RobustnessError, match="over the budget of 3"):
            run_probes(target, max_requests=3)
        with pytest.raises(RobustnessError, match="concurrency"):
            run_probes(target, concurrency=0)
    finally:
        target.close()
    assert vulnerable.requests == before


def test_render_probes_gives_the_conversations_without_sending() -> None:
    from bastion.robustness.llm import render_probes

    plant, planned = render_probes(select_probes("indirect_injection,encoding"), seed=4)
    assert len(planned) == 8 and plant.canaries[0].startswith("BASTION-CANARY-")
    tool = next(a for a in planned if a.probe.id == "indirect.tool-result")
    roles = [m.role for m in tool.conversation.messages]
    assert roles == ["system", "user", "assistant", "tool"]
    import json

    json.loads(tool.conversation.messages[-1].content)  # the tool result stays valid JSON
    b64 = next(a for a in planned if a.probe.id == "encoding.base64")
    assert b64.proof is not None and b64.proof not in b64.conversation.sent_text
    again = render_probes(select_probes("encoding.base64"), seed=4)[1][0]
    assert again.conversation.messages[0] == b64.conversation.messages[0]


class _Recording:
    """The vulnerable server's target, keeping every conversation it is asked to send."""

    def __init__(self, url: str) -> None:
        self.inner = open_target(url)
        self.kind, self.location = self.inner.kind, self.inner.location
        self.configurable_system_prompt = self.inner.configurable_system_prompt
        self.supports_tools = self.inner.supports_tools
        self.sent: list[Conversation] = []

    def send(self, conversation: Conversation) -> Reply:
        self.sent.append(conversation)
        return self.inner.send(conversation)


def test_multi_turn_probes_send_the_history(vulnerable: RunningServer) -> None:
    rec = _Recording(vulnerable.url)
    try:
        report = run_probes(rec, select_probes("jailbreak.gradual-escalation"), seed=2)
    finally:
        rec.inner.close()
    assert report.attempts[0].status == "found" and report.requests == 3
    assert [[m.role for m in c.messages] for c in rec.sent] == [
        ["system", "user"],
        ["system", "user", "assistant", "user"],
        ["system", "user", "assistant", "user", "assistant", "user"],
    ]
    first_reply = rec.sent[1].messages[2].content
    assert first_reply.startswith("Sure, here you go:")  # the server's real answer, replayed
    assert first_reply not in rec.sent[2].sent_text  # the target's own words are not "sent"
