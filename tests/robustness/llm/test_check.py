"""`robustness.llm_probes` through the check runner: typed evidence, verdicts, ledger,
and the refusal of remote (API) runs."""

from __future__ import annotations

import pytest

from bastion.core.checks import run_check
from bastion.core.errors import CheckError
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.robustness.llm import LlmProbesCheck, record_llm_probes, run_probes, select_probes
from bastion.robustness.llm.testservers import RunningServer


def test_run_check_probes_the_subject_url_and_fails_on_the_vulnerable_server(
    sqlite_ws: Workspace, vulnerable: RunningServer
) -> None:
    ev = run_check(
        sqlite_ws, LlmProbesCheck, Subject("endpoint", vulnerable.url),
        params={"probes": "system_prompt_leak", "seed": 3},
    )  # fmt: skip
    assert ev.verdict is Verdict.FAIL
    data = LlmProbesCheck.read(ev)
    assert data.found == 5 and data.families["system_prompt_leak"].found == 5
    assert {f.rule_id for f in ev.findings} >= {"robustness.llm.system_prompt_leak.canary"}
    assert all("AML.T0056" in f.references for f in ev.findings if "canary" in f.rule_id)
    assert all(f.remediation for f in ev.findings)
    assert data.target.endswith("/v1/chat/completions") and data.seed == 3


def test_hardened_passes_and_unreachable_warns(
    sqlite_ws: Workspace, hardened: RunningServer
) -> None:
    ev = run_check(sqlite_ws, LlmProbesCheck, Subject("endpoint", hardened.url), params={"seed": 1})
    assert ev.verdict is Verdict.PASS and LlmProbesCheck.read(ev).findings == ()
    from bastion.robustness.llm import open_target

    dead = open_target("http://127.0.0.1:9")
    try:
        report = run_probes(dead, select_probes("direct.override"), seed=1)
    finally:
        dead.close()
    ev = record_llm_probes(sqlite_ws, report, ref="dead-endpoint")
    data = LlmProbesCheck.read(ev)
    assert ev.verdict is Verdict.WARN and data.errors == 1 and data.attack_success_rate is None
    assert "no usable reply" in data.attempts[0].detail


def test_a_non_loopback_subject_is_recorded_as_an_error_not_probed(sqlite_ws: Workspace) -> None:
    ev = run_check(sqlite_ws, LlmProbesCheck, Subject("endpoint", "https://api.example.com/v1"))
    assert ev.verdict is Verdict.ERROR and "not loopback" in str(ev.data["error"])


def test_remote_callers_cannot_run_it(sqlite_ws: Workspace, vulnerable: RunningServer) -> None:
    assert LlmProbesCheck.remote is False and LlmProbesCheck.metadata()["remote_params"] == {}
    before = vulnerable.requests
    with pytest.raises(CheckError, match="cannot be run by an API caller"):
        run_check(sqlite_ws, LlmProbesCheck, Subject("endpoint", vulnerable.url), remote=True)
    assert vulnerable.requests == before
