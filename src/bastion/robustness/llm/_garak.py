"""An optional adapter for NVIDIA garak: run it when it is installed, and merge the hits
of a garak run (``*.report.jsonl`` or ``*.hitlog.jsonl``) into a Bastion report.

garak is not a dependency. Without it :func:`run_garak` refuses with the reason and
what to install; merging a report garak wrote elsewhere needs no garak at all. garak
tags its probes with OWASP LLM Top 10 *2023* ids, so findings are mapped here by probe
module to the 2025 edition and ATLAS instead of trusting its tags."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.robustness.llm._detectors import mask
from bastion.robustness.llm._probes import Plant
from bastion.robustness.llm._taxonomy import FAMILIES
from bastion.robustness.llm.interface import Finding, ProbeFamily, RobustnessError

if TYPE_CHECKING:
    from bastion.robustness.llm._harness import LlmProbeReport

__all__ = ["garak_available", "merge_garak", "read_garak", "run_garak"]

MAX_REPORT_BYTES = 512 * 1024 * 1024
MAX_LINE = 8 * 1024 * 1024
MAX_FINDINGS = 10_000
HIT_SCORE = 0.5

#: garak probe module -> the family its hits belong to.
_MODULES: dict[str, ProbeFamily] = {
    "promptinject": ProbeFamily.DIRECT_INJECTION,
    "goodside": ProbeFamily.DIRECT_INJECTION,
    "latentinjection": ProbeFamily.INDIRECT_INJECTION,
    "dan": ProbeFamily.JAILBREAK,
    "grandma": ProbeFamily.JAILBREAK,
    "tap": ProbeFamily.JAILBREAK,
    "suffix": ProbeFamily.JAILBREAK,
    "sysprompt_extraction": ProbeFamily.SYSTEM_PROMPT_LEAK,
    "apikey": ProbeFamily.SENSITIVE_DATA,
    "leakreplay": ProbeFamily.SENSITIVE_DATA,
    "web_injection": ProbeFamily.INSECURE_OUTPUT,
    "xss": ProbeFamily.INSECURE_OUTPUT,
    "ansiescape": ProbeFamily.INSECURE_OUTPUT,
    "exploitation": ProbeFamily.INSECURE_OUTPUT,
    "encoding": ProbeFamily.ENCODING,
    "smuggling": ProbeFamily.ENCODING,
    "badchars": ProbeFamily.ENCODING,
}


def garak_available() -> bool:
    return shutil.which("garak") is not None or importlib.util.find_spec("garak") is not None


_NOT_INSTALLED = (
    "garak is not installed, so no garak probes ran (Bastion's own probes need nothing "
    "more). Install it in its own environment (pip install garak) and run again, or merge "
    "a report garak wrote elsewhere with --garak-report FILE"
)


def run_garak(url: str, *, spec: str = "probes.promptinject", timeout: float = 3600.0) -> Path:
    """Run garak's REST generator against ``url`` (an OpenAI-compatible chat endpoint)
    and return the path of its ``report.jsonl``. Refuses when garak is not installed."""
    exe = shutil.which("garak")
    if exe is None:
        raise RobustnessError(_NOT_INSTALLED)
    work = Path(tempfile.mkdtemp(prefix="bastion-garak-"))
    config = {
        "rest": {
            "RestGenerator": {
                "uri": url,
                "method": "post",
                "headers": {"Content-Type": "application/json"},
                "req_template_json_object": {
                    "model": "default",
                    "messages": [{"role": "user", "content": "$INPUT"}],
                },
                "response_json": True,
                "response_json_field": "$.choices[0].message.content",
            }
        }
    }
    (work / "rest.json").write_text(json.dumps(config), encoding="utf-8")
    cmd = [exe, "-t", "rest", "-G", str(work / "rest.json"), "--spec", spec, "-n", "bastion-target",
           "--report_prefix", "bastion", "-g", "1"]  # fmt: skip
    try:
        proc = subprocess.run(
            cmd, cwd=work, env={"XDG_DATA_HOME": str(work), "PATH": str(Path(exe).parent)},
            capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise RobustnessError(f"garak did not finish within {timeout:g} s") from None
    reports = sorted(work.rglob("bastion*.report.jsonl"))
    if proc.returncode != 0 or not reports:
        raise RobustnessError(f"garak exited with status {proc.returncode} and wrote no report")
    return reports[-1]


def _text(value: Any) -> str:
    """garak writes prompts and outputs as strings or as {"text"} / {"turns"} objects."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            return str(value["text"])
        turns = value.get("turns")
        if isinstance(turns, list):
            return "\n".join(_text(t.get("content") if isinstance(t, dict) else t) for t in turns)
        if "content" in value:
            return _text(value["content"])
    return ""


def _finding(probe: str, detector: str, score: float, prompt: str, output: str) -> Finding:
    module = probe.split(".", 1)[0]
    family = _MODULES.get(module, ProbeFamily.DIRECT_INJECTION)
    info = FAMILIES[family]
    empty = Plant(canaries=())
    return Finding(
        probe=f"garak.{probe}",
        family=family,
        detector=f"garak:{detector}",
        title=info.title,
        severity=info.severity,
        owasp=info.owasp,
        atlas=info.atlas,
        prompt_excerpt=mask(prompt, empty, limit=300),
        reply_excerpt=mask(output, empty),
        detail=f"garak detector {detector} scored {score:.2f}",
        source="garak",
    )


def read_garak(path: Path) -> list[Finding]:
    """The hits in a garak ``report.jsonl`` (evaluated ``attempt`` rows, a detector
    score >= 0.5) or ``hitlog.jsonl``, one finding per probe and detector."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RobustnessError(f"garak report {path}: cannot read ({exc.strerror})") from None
    if size > MAX_REPORT_BYTES:
        raise RobustnessError(f"garak report {path.name}: larger than {MAX_REPORT_BYTES} bytes")
    found: dict[tuple[str, str], Finding] = {}
    rows = bad = 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if len(raw) > MAX_LINE:
                raise RobustnessError(
                    f"garak report {path.name}: line {lineno} is longer than {MAX_LINE} bytes"
                )
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except ValueError:
                bad += 1
                continue
            if not isinstance(row, dict):
                bad += 1
                continue
            hits: list[tuple[str, str, float, str, str]] = []
            if row.get("entry_type") == "attempt" and row.get("status") == 2:
                rows += 1
                outputs = row.get("outputs") or []
                for det, scores in (row.get("detector_results") or {}).items():
                    for i, s in enumerate(scores if isinstance(scores, list) else []):
                        if isinstance(s, (int, float)) and s >= HIT_SCORE:
                            out = _text(outputs[i]) if i < len(outputs) else ""
                            hits.append(
                                (
                                    str(row.get("probe_classname", "unknown")),
                                    str(det),
                                    float(s),
                                    _text(row.get("prompt")),
                                    out,
                                )
                            )
                            break
            elif "probe" in row and "detector" in row and "entry_type" not in row:
                rows += 1
                s = row.get("score", 1.0)
                if isinstance(s, (int, float)) and s >= HIT_SCORE:
                    hits.append(
                        (
                            str(row["probe"]),
                            str(row["detector"]),
                            float(s),
                            _text(row.get("prompt")),
                            _text(row.get("output")),
                        )
                    )
            for probe, det, s, prompt, out in hits:
                probe = probe.removeprefix("probes.")
                det = det.removeprefix("detectors.")
                key = (probe, det)
                if key not in found and len(found) < MAX_FINDINGS:
                    found[key] = _finding(probe, det, s, prompt, out)
    if rows == 0:
        raise RobustnessError(
            f"garak report {path.name}: no evaluated attempt or hit rows"
            + (f" ({bad} line(s) were not JSON objects)" if bad else "")
        )
    return list(found.values())


def merge_garak(report: LlmProbeReport, path: Path) -> int:
    """Add a garak run's findings to ``report``; the number added."""
    findings = read_garak(path)
    report.findings.extend(findings)
    if "garak" not in report.sources:
        report.sources.append("garak")
    report.notes.append(f"merged {len(findings)} finding(s) from garak report {path.name}")
    return len(findings)
