"""Shared helpers for the benchmark scripts: inputs, timing, machine info, results.

Benchmarks are run from the repository root as ``python benchmarks/<name>.py``; Python puts
``benchmarks/`` on ``sys.path`` then, so the scripts import this module as ``_common``.
Benchmarks are not tests: nothing here asserts a speed, they measure and report.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
CACHE_DIR = RESULTS_DIR / "cache"

EVENT_KIND = "bench.decision"
EVENT_ACTOR = "bench"
TARGET_EVENT_BYTES = 500

_WORDS = (
    "model",
    "dataset",
    "risk",
    "credit",
    "score",
    "policy",
    "review",
    "approve",
    "deny",
    "threshold",
    "drift",
    "bias",
    "fairness",
    "audit",
    "control",
    "evidence",
    "guard",
    "prompt",
    "output",
    "input",
    "feature",
    "holdout",
    "metric",
)


# -- inputs ------------------------------------------------------------------------------


def make_event_data(i: int, rng: random.Random) -> dict[str, Any]:
    """One realistic event body; the ``note`` is padded so the whole event is ~500 bytes."""
    data: dict[str, Any] = {
        "n": i,
        "system": f"credit-scoring-{rng.randrange(8)}",
        "model": {"name": "gbm", "version": f"1.{rng.randrange(40)}.{rng.randrange(10)}"},
        "decision": rng.choice(("approve", "deny", "review")),
        "score": round(rng.random(), 6),
        "features": {f"f{k}": round(rng.gauss(0, 1), 4) for k in range(6)},
        "request_sha256": rng.getrandbits(256).to_bytes(32, "big").hex(),
        "note": "",
    }
    size = len(event_bytes(data))
    words: list[str] = []
    while size < TARGET_EVENT_BYTES:
        w = rng.choice(_WORDS)
        words.append(w)
        size += len(w) + (1 if len(words) > 1 else 0)
    data["note"] = " ".join(words)
    return data


def make_events(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """``n`` deterministic event bodies (same seed, same events, on every machine)."""
    return list(iter_events(n, seed))


def iter_events(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """The same events as :func:`make_events`, one at a time (for very large ``n``)."""
    rng = random.Random(seed)
    for i in range(n):
        yield make_event_data(i, rng)


def event_bytes(data: dict[str, Any], kind: str = EVENT_KIND, actor: str = EVENT_ACTOR) -> bytes:
    """The bytes a plain Merkle log stores for an event: compact sorted-key JSON."""
    return json.dumps(
        {"actor": actor, "data": data, "kind": kind}, sort_keys=True, separators=(",", ":")
    ).encode()


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# -- timing ------------------------------------------------------------------------------


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Wall seconds of one call, and its result."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median_of(runs: int, fn: Callable[[], T]) -> tuple[float, list[float], T]:
    """Median wall seconds over ``runs`` calls, every sample, and the last result."""
    samples: list[float] = []
    out: T
    for _ in range(runs):
        dt, out = timed(fn)
        samples.append(dt)
    return statistics.median(samples), samples, out


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def fmt_rate(r: float) -> str:
    return f"{r:,.0f}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for r in cells[1:]:
        print(line(r))


# -- machine and results -----------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def machine_info(extra_packages: Sequence[str] = ()) -> dict[str, Any]:
    pkgs = ["bastion-ai", "pymerkle", "sqlalchemy", "psycopg", "cryptography", *extra_packages]
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gib = None
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1) if mem_gib else None,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "packages": {p: _version(p) for p in pkgs},
    }


def ensure_ignored_dir(path: Path) -> Path:
    """Create a scratch directory that git ignores (it holds a ``*`` .gitignore)."""
    path.mkdir(parents=True, exist_ok=True)
    marker = path / ".gitignore"
    if not marker.exists():
        marker.write_text("*\n")
    return path


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` (git-ignored) with the machine and date."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{name}.json"
    doc = {
        "benchmark": name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "machine": machine_info(),
        **payload,
    }
    out.write_text(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")
    return out
