"""Running a campaign: a preflight in the caller (every file readable, every model
scanned safe and loadable, every attack possible on its target), then one task per
(target, attack) through the Executor, then metrics, thresholds, the comparison with the
last recorded run, evidence and the report."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bastion.core.executor import Executor, Task, TaskResult, executor_from_env
from bastion.robustness.campaign._spec import AttackEntry, Campaign, TargetEntry, Threshold
from bastion.robustness.interface import ATTACKS, RobustnessError

__all__ = [
    "CampaignResult",
    "TargetResult",
    "ThresholdResult",
    "metrics_of",
    "preflight",
    "run_campaign",
    "run_task",
]

Progress = Callable[[TaskResult, int, int], None]


def run_task(params: Mapping[str, Any]) -> dict[str, Any]:
    """In a worker: one robustness evaluation, as the report's plain data (picklable)."""
    from bastion.robustness._checks import evaluation_from_params

    report, model_digest, data_digest = evaluation_from_params(dict(params))
    return report.to_data() | {"model_digest": model_digest, "data_digest": data_digest}


@dataclass(frozen=True)
class ThresholdResult:
    metric: str
    value: float | None
    min: float | None
    max: float | None
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "min": self.min, "max": self.max,
                "passed": self.passed}  # fmt: skip


@dataclass(frozen=True)
class TargetResult:
    id: str
    name: str
    model_digest: str | None
    data_digest: str | None
    #: attack id -> metric -> value (robust accuracies None when the evaluation is not valid)
    metrics: dict[str, dict[str, float | bool | None]]
    #: attack id -> the evaluation's full report data
    reports: dict[str, dict[str, Any]]
    #: attack id -> why the task failed
    failures: dict[str, str]
    thresholds: tuple[ThresholdResult, ...]
    retried: int = 0
    cpu_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures and all(t.passed for t in self.thresholds)

    @property
    def invalid(self) -> tuple[str, ...]:
        return tuple(a for a, m in self.metrics.items() if m.get("valid") is False)


@dataclass(frozen=True)
class CampaignResult:
    campaign: Campaign
    executor: str
    targets: tuple[TargetResult, ...]
    wall_seconds: float
    #: target id -> the previous recorded run's metrics (filled when recorded)
    previous: dict[str, dict[str, dict[str, float | bool | None]]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.targets)


def metrics_of(report: Mapping[str, Any]) -> dict[str, float | bool | None]:
    """The numbers gates and thresholds name, from one evaluation's report data."""
    out: dict[str, float | bool | None] = {
        "clean_accuracy": float(report["clean_accuracy"]),
        "robust_accuracy": report.get("robust_accuracy"),
        "attack_success_rate": float(report["attack_success_rate"]),
        "mean_minimal_perturbation": report.get("mean_minimal_perturbation"),
        "valid": bool(report.get("valid")),
    }
    for key, acc in (report.get("robust_accuracy_at") or {}).items():
        out[f"robust_accuracy_at_{key}"] = float(acc)
    return out


def _judge(th: Threshold, metrics: Mapping[str, Mapping[str, Any]]) -> ThresholdResult:
    raw = metrics.get(th.attack, {}).get(th.name)
    value = float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
    ok = (
        value is not None
        and (th.min is None or value >= th.min)
        and (th.max is None or value <= th.max)
    )
    return ThresholdResult(th.metric, value, th.min, th.max, ok)


def preflight(campaign: Campaign) -> None:
    """Refuse, before any work starts, what cannot run: a missing file, a model the
    scanner does not call safe, an attack the target cannot support, an epsilon outside
    the data's range."""
    from bastion.integrity import load_allowlist
    from bastion.robustness._data import load_dataset
    from bastion.robustness._endpoint import open_endpoint
    from bastion.robustness._targets import load_target

    for t in campaign.targets:
        files = (("model", t.model), ("template", t.template), ("data", t.data))
        for what, value in files:
            if value is not None and not campaign.path(value).is_file():
                raise RobustnessError(
                    f"target {t.id}: {what} file {campaign.path(value)} not found"
                )
        if t.endpoint is not None and t.template is not None:
            # The endpoint must answer one probe in the template's shape before any work.
            try:
                with open_endpoint(
                    t.endpoint,
                    campaign.path(t.template),
                    allow_hosts=t.allow_hosts,
                    query_budget=t.query_budget,
                ) as ep:
                    caps = ep.capabilities
            except RobustnessError as exc:
                raise RobustnessError(f"target {t.id}: {exc}") from None
        else:
            allow = load_allowlist(campaign.path(t.allow)) if t.allow else frozenset()
            loaded = load_target(campaign.path(t.model or ""), allow=allow)
            caps = loaded.target.capabilities
        ds = load_dataset(campaign.path(t.data), label=t.label)
        for a in campaign.attacks:
            need = ATTACKS[a.attack]
            if not need <= caps:
                missing = ", ".join(sorted(c.value for c in need - caps))
                raise RobustnessError(
                    f"attack {a.id} ({a.attack}) needs {missing} that target {t.id} does not give"
                )
            span = float(a.clip[1] - a.clip[0])
            if a.eps[-1] > span:
                raise RobustnessError(
                    f"attack {a.id}: eps {a.eps[-1]:g} exceeds the input range {span:g}"
                )
        if len(ds.x) == 0:
            raise RobustnessError(f"target {t.id}: the data file has no rows")


def _task_id(t: TargetEntry, a: AttackEntry) -> str:
    return f"{t.id}/{a.id}"


def run_campaign(
    campaign: Campaign,
    *,
    executor: Executor | None = None,
    on_progress: Progress | None = None,
    retries: int = 2,
) -> CampaignResult:
    """Run every (target, attack) task through ``executor`` (default: what
    ``BASTION_EXECUTOR`` names, local processes when unset)."""
    preflight(campaign)
    ex = executor or executor_from_env()
    tasks = [
        Task(_task_id(t, a), run_task, (campaign.task_params(t, a),))
        for t in campaign.targets
        for a in campaign.attacks
    ]
    t0 = time.perf_counter()
    try:
        results = {r.id: r for r in ex.map(tasks, retries=retries, on_done=on_progress)}
    finally:
        if executor is None:
            ex.close()
    wall = time.perf_counter() - t0
    out: list[TargetResult] = []
    for t in campaign.targets:
        metrics: dict[str, dict[str, float | bool | None]] = {}
        reports: dict[str, dict[str, Any]] = {}
        failures: dict[str, str] = {}
        model_digest = data_digest = None
        retried = 0
        cpu = 0.0
        for a in campaign.attacks:
            r = results[_task_id(t, a)]
            retried += r.attempts - 1
            cpu += r.seconds
            if not r.ok:
                failures[a.id] = r.error or "failed"
                continue
            rep = dict(r.value)
            reports[a.id] = rep
            metrics[a.id] = metrics_of(rep)
            model_digest = model_digest or rep.get("model_digest")
            data_digest = data_digest or rep.get("data_digest")
        out.append(
            TargetResult(
                id=t.id,
                name=t.name or t.id,
                model_digest=model_digest,
                data_digest=data_digest,
                metrics=metrics,
                reports=reports,
                failures=failures,
                thresholds=tuple(_judge(th, metrics) for th in campaign.thresholds),
                retried=retried,
                cpu_seconds=round(cpu, 3),
            )
        )
    return CampaignResult(campaign, ex.name, tuple(out), round(wall, 3))
