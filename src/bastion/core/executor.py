"""The Executor: heavy batch work (red-team campaigns, registry-wide scans, drift over large
logs) fans out through one interface.

* :class:`LocalExecutor`, the default: a pool of local worker processes (``spawn``: a
  worker never inherits the parent's threads, locks or open database connections).
* :class:`InlineExecutor`: the calling process, for small runs (``BASTION_EXECUTOR=inline``).
* :class:`RayExecutor`: a Ray cluster, when ``BASTION_EXECUTOR=ray`` (a local Ray instance,
  or the cluster ``ray.init`` finds) or ``ray://HOST:PORT`` (a remote cluster through Ray
  Client). Ray is an optional extra (``pip install 'bastion-ai[ray]'``).

A :class:`Task` is a module-level function and its (picklable) arguments; tasks are
deterministic in what they are given (seeds travel in the arguments), so either executor
returns the same values for the same tasks. A worker that dies (killed, out of memory, a
native crash) has its tasks retried up to ``retries`` times; a task that still fails is
reported as failed with the reason, never silently dropped. A task that raises is not
retried (the same input would raise again): its error is reported. ``on_done`` is called
in the caller's process as each task finishes, for progress bars.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bastion.core.errors import ConfigError, InputError

__all__ = [
    "MAX_TASKS",
    "Executor",
    "InlineExecutor",
    "LocalExecutor",
    "RayExecutor",
    "Task",
    "TaskResult",
    "executor_from_env",
]

#: Tasks one map call may carry (a campaign is attacks x targets x parameter sets).
MAX_TASKS = 10_000
#: Characters of a task's error kept in its result (a traceback's last lines).
MAX_ERROR = 2_000

ProgressFn = Callable[["TaskResult", int, int], None]


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(*args)`` in a worker. ``fn`` must be importable by name."""

    id: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class TaskResult:
    id: str
    ok: bool
    value: Any = None
    error: str | None = None
    attempts: int = 1
    #: the worker's process id (local) or Ray node id; None when it never ran to the end
    worker: str | None = None
    seconds: float = 0.0
    #: why earlier attempts were lost (a dead worker's exit), oldest first
    retried: tuple[str, ...] = field(default=())


@runtime_checkable
class Executor(Protocol):
    name: str

    def map(
        self, tasks: Sequence[Task], *, retries: int = 2, on_done: ProgressFn | None = None
    ) -> list[TaskResult]:
        """Run every task; the results in the order of ``tasks``."""
        ...

    def close(self) -> None: ...


def _check_tasks(tasks: Sequence[Task], retries: int) -> None:
    if len(tasks) > MAX_TASKS:
        raise InputError(f"{len(tasks)} tasks: at most {MAX_TASKS} go in one run")
    ids = [t.id for t in tasks]
    if len(set(ids)) != len(ids):
        raise InputError("task ids must be unique")
    if isinstance(retries, bool) or not 0 <= retries <= 10:
        raise InputError("retries must lie in 0..10")


def _run_task(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, str, float]:
    """In the worker: the value, the worker's id and the CPU-seconds it took."""
    t0 = time.process_time()
    value = fn(*args)
    return value, str(os.getpid()), time.process_time() - t0


def _error_text(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text[-MAX_ERROR:]


class LocalExecutor:
    """A pool of ``workers`` local processes (default: the machine's cores)."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and (isinstance(workers, bool) or not 1 <= workers <= 256):
            raise ConfigError("local executor: workers must lie in 1..256")
        self.workers = workers or max(1, os.cpu_count() or 1)

    def _pool(self, tasks: int) -> cf.ProcessPoolExecutor:
        # never more processes than tasks: each spawned worker pays its imports
        return cf.ProcessPoolExecutor(
            max_workers=max(1, min(self.workers, tasks)),
            mp_context=multiprocessing.get_context("spawn"),
        )

    def map(
        self, tasks: Sequence[Task], *, retries: int = 2, on_done: ProgressFn | None = None
    ) -> list[TaskResult]:
        """All tasks share one pool. When a worker dies the pool breaks, and every task it
        still held is a suspect: each suspect then runs alone in its own process (up to
        ``workers`` at a time), so a death is charged only to the task that caused it, and
        that task is retried up to ``retries`` times."""
        _check_tasks(tasks, retries)
        results: dict[str, TaskResult] = {}
        lost: dict[str, list[str]] = {t.id: [] for t in tasks}
        total = len(tasks)

        def done(res: TaskResult) -> None:
            results[res.id] = res
            if on_done is not None:
                on_done(res, len(results), total)

        suspects: list[Task] = []
        pool = self._pool(len(tasks))
        broken = False
        try:
            futures = {pool.submit(_run_task, t.fn, t.args): t for t in tasks}
            for fut in cf.as_completed(futures):
                t = futures[fut]
                try:
                    value, worker, cpu = fut.result()
                except cf.process.BrokenProcessPool as exc:
                    broken = True
                    lost[t.id].append(f"worker died: {exc}"[:300])
                    suspects.append(t)
                    continue
                except Exception as exc:
                    done(TaskResult(t.id, False, error=_error_text(exc)))
                else:
                    done(TaskResult(t.id, True, value, worker=worker, seconds=cpu))
        finally:
            pool.shutdown(wait=not broken, cancel_futures=True)
        if suspects:
            with cf.ThreadPoolExecutor(max_workers=min(self.workers, len(suspects))) as threads:
                for res in threads.map(lambda t: self._alone(t, retries, lost[t.id]), suspects):
                    done(res)
        return [results[t.id] for t in tasks]

    def _alone(self, t: Task, retries: int, lost: list[str]) -> TaskResult:
        """Run one suspect in a process of its own, retrying when that process dies."""
        for _attempt in range(retries + 1):
            single = cf.ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
            broken = False
            try:
                value, worker, cpu = single.submit(_run_task, t.fn, t.args).result()
            except cf.process.BrokenProcessPool as exc:
                broken = True
                lost.append(f"worker died: {exc}"[:300])
                continue
            except Exception as exc:
                return TaskResult(t.id, False, error=_error_text(exc),
                                  attempts=len(lost) + 1, retried=tuple(lost))  # fmt: skip
            finally:
                single.shutdown(wait=not broken, cancel_futures=True)
            return TaskResult(t.id, True, value, attempts=len(lost) + 1, worker=worker,
                              seconds=cpu, retried=tuple(lost))  # fmt: skip
        return TaskResult(t.id, False, error=f"the worker running it alone died {retries + 1} "
                          "time(s)", attempts=len(lost), retried=tuple(lost))  # fmt: skip

    def close(self) -> None:
        pass  # each map call owns its pool


class InlineExecutor:
    """Every task in the calling process, one after the other: no start-up cost, for small
    runs (the demo, a handful of tasks). A task that kills its process kills the caller;
    use :class:`LocalExecutor` for anything that may crash."""

    name = "inline"

    def map(
        self, tasks: Sequence[Task], *, retries: int = 2, on_done: ProgressFn | None = None
    ) -> list[TaskResult]:
        _check_tasks(tasks, retries)
        out: list[TaskResult] = []
        for t in tasks:
            try:
                value, worker, cpu = _run_task(t.fn, t.args)
            except Exception as exc:
                res = TaskResult(t.id, False, error=_error_text(exc))
            else:
                res = TaskResult(t.id, True, value, worker=worker, seconds=cpu)
            out.append(res)
            if on_done is not None:
                on_done(res, len(out), len(tasks))
        return out

    def close(self) -> None:
        pass


class RayExecutor:
    """Tasks as Ray remote functions. ``address``: None starts (or joins, with ``auto``) a
    local Ray instance; ``ray://HOST:PORT`` connects through Ray Client."""

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "BASTION_EXECUTOR names Ray, but ray is not installed: "
                "pip install 'bastion-ai[ray]' (or unset BASTION_EXECUTOR for local processes)"
            ) from None
        self._ray = ray
        self.address = address
        self._owned = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if address:
                kwargs["address"] = address
            elif num_cpus:
                kwargs["num_cpus"] = num_cpus
            ray.init(**kwargs)
            self._owned = True

    def map(
        self, tasks: Sequence[Task], *, retries: int = 2, on_done: ProgressFn | None = None
    ) -> list[TaskResult]:
        _check_tasks(tasks, retries)
        ray = self._ray
        from ray.exceptions import RayTaskError, WorkerCrashedError

        # Retries are counted here, not by Ray (max_retries=0), so a result says how many
        # attempts it took and why the earlier ones were lost, as with local processes.
        remote = ray.remote(max_retries=0, retry_exceptions=False)(_run_ray_task)
        attempts = {t.id: 1 for t in tasks}
        lost: dict[str, list[str]] = {t.id: [] for t in tasks}
        refs = {remote.remote(t.fn, t.args): t for t in tasks}
        results: dict[str, TaskResult] = {}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                t = refs.pop(ref)
                try:
                    value, worker, cpu = ray.get(ref)
                except WorkerCrashedError as exc:
                    lost[t.id].append(f"worker died: {_error_text(exc)}"[:300])
                    if attempts[t.id] <= retries:
                        attempts[t.id] += 1
                        again = remote.remote(t.fn, t.args)
                        refs[again] = t
                        pending.append(again)
                        continue
                    res = TaskResult(t.id, False, error="the worker running it died "
                                     f"{attempts[t.id]} time(s)", attempts=attempts[t.id],
                                     retried=tuple(lost[t.id]))  # fmt: skip
                except RayTaskError as exc:
                    cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                    res = TaskResult(t.id, False, error=_error_text(cause),
                                     attempts=attempts[t.id], retried=tuple(lost[t.id]))  # fmt: skip
                else:
                    res = TaskResult(t.id, True, value, attempts=attempts[t.id], worker=worker,
                                     seconds=cpu, retried=tuple(lost[t.id]))  # fmt: skip
                results[t.id] = res
                if on_done is not None:
                    on_done(res, len(results), len(tasks))
        return [results[t.id] for t in tasks]

    def close(self) -> None:
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
            self._owned = False


def _run_ray_task(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, str, float]:
    import ray

    t0 = time.process_time()
    value = fn(*args)
    return value, str(ray.get_runtime_context().get_node_id()), time.process_time() - t0


def executor_from_env(value: str | None = None, *, workers: int | None = None) -> Executor:
    """The executor ``BASTION_EXECUTOR`` names: unset or ``local`` (``local:N`` for N
    workers), ``inline`` (the calling process), ``ray`` (local Ray) or ``ray://HOST:PORT``."""
    spec = (value if value is not None else os.environ.get("BASTION_EXECUTOR", "")).strip()
    if spec in ("", "local"):
        return LocalExecutor(workers)
    if spec == "inline":
        return InlineExecutor()
    if spec.startswith("local:"):
        try:
            n = int(spec.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"BASTION_EXECUTOR={spec!r}: expected local:N") from None
        return LocalExecutor(n)
    if spec == "ray":
        return RayExecutor(None, num_cpus=workers)
    if spec.startswith("ray://"):
        return RayExecutor(spec)
    raise ConfigError(
        f"BASTION_EXECUTOR={spec[:100]!r}: expected local, local:N, inline, ray or ray://HOST:PORT"
    )
