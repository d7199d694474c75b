"""The robustness room's demo story: a campaign, membership inference and the LLM probes,
each recorded as evidence, reports written."""

from __future__ import annotations

from pathlib import Path

from bastion.core.workspace import Workspace
from bastion.robustness.campaign import CampaignCheck
from bastion.robustness.demo import demo_story


def test_demo_story_records_all_three(sqlite_ws: Workspace, tmp_path: Path) -> None:
    lines: list[tuple[str, str]] = []
    ids = demo_story(sqlite_ws, tmp_path / "out", lambda t, d: lines.append((t, d)))
    assert [t for t, _ in lines] == [
        "Red-team campaign on the digits model",
        "Membership inference on the digits model",
        "LLM probes against the example's LLM endpoint (vulnerable local server)",
    ]
    camp = sqlite_ws.evidence.get(ids["campaign"])
    data = CampaignCheck.read(camp)
    pgd = data.metrics["pgd"]
    assert float(pgd["clean_accuracy"]) > 0.9  # type: ignore[arg-type]
    assert float(pgd["robust_accuracy_at_eps_0_2"]) < float(pgd["robust_accuracy_at_eps_0_05"])  # type: ignore[arg-type]
    assert sqlite_ws.evidence.get(ids["membership"]).check_id == "robustness.membership"
    llm = sqlite_ws.evidence.get(ids["llm"])
    assert llm.check_id == "robustness.llm_probes" and llm.verdict.value == "fail"
    assert "33 of 33 probes found a weakness" in lines[2][1]
    html = (tmp_path / "out" / "campaign-report.html").read_text()
    assert "<svg" in html and "demo-digits" in html
    assert (tmp_path / "out" / "llm-probes.html").is_file()
