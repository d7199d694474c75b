"""The Executor (core/executor.py): local processes by default, a real local Ray cluster
when asked; the same values for the same tasks; dead workers retried and reported, never
silently dropped; task errors reported, not retried."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.core.errors import ConfigError, InputError
from bastion.core.executor import (
    Executor,
    InlineExecutor,
    LocalExecutor,
    RayExecutor,
    Task,
    TaskResult,
    executor_from_env,
)
from tests.core import _executor_tasks as tasks


def _work(tmp: Path) -> list[Task]:
    return [
        *(Task(f"sq{i}", tasks.square, (i,)) for i in range(6)),
        Task("seeded", tasks.seeded, (7,)),
        Task("die-once", tasks.die_once, (str(tmp / "marker"), 42)),
        Task("boom", tasks.boom),
    ]


def _check(results: list[TaskResult], ids: list[str]) -> dict[str, TaskResult]:
    assert [r.id for r in results] == ids  # every task reported, in order
    by = {r.id: r for r in results}
    assert [by[f"sq{i}"].value for i in range(6)] == [0, 1, 4, 9, 16, 25]
    assert all(by[f"sq{i}"].ok and by[f"sq{i}"].attempts == 1 for i in range(6))
    # The worker died on the first attempt; the retry succeeded, and the result says so.
    d = by["die-once"]
    assert d.ok and d.value == 42 and d.attempts == 2
    assert len(d.retried) == 1 and "worker died" in d.retried[0]
    # A task that raises is reported with its error and not retried for it (it may have
    # been re-queued once because it was pending in the pool the dying worker broke).
    b = by["boom"]
    assert not b.ok and b.error is not None and "boom: bad input" in b.error
    assert b.attempts == len(b.retried) + 1 and all("worker died" in x for x in b.retried)
    return by


def test_local_executor_runs_retries_and_reports(tmp_path: Path) -> None:
    work = _work(tmp_path)
    seen: list[tuple[str, int, int]] = []
    ex = LocalExecutor(2)
    assert isinstance(ex, Executor)
    res = ex.map(work, retries=2, on_done=lambda r, done, total: seen.append((r.id, done, total)))
    by = _check(res, [t.id for t in work])
    assert sorted(i for i, _d, _t in seen) == sorted(t.id for t in work)  # progress per task
    assert [d for _i, d, _t in seen] == list(range(1, len(work) + 1))
    assert {t for _i, _d, t in seen} == {len(work)}
    assert by["seeded"].value == tasks.seeded(7)  # deterministic in its arguments


def test_inline_executor_gives_the_same_values(tmp_path: Path) -> None:
    work = [t for t in _work(tmp_path) if t.id != "die-once"]  # it would kill this process
    inline = InlineExecutor().map(work)
    local = LocalExecutor(2).map(work)
    assert [(r.id, r.ok, r.value) for r in inline] == [(r.id, r.ok, r.value) for r in local]
    assert not inline[-1].ok and "boom: bad input" in (inline[-1].error or "")


def test_a_worker_that_always_dies_is_reported_failed(tmp_path: Path) -> None:
    res = LocalExecutor(1).map(
        [Task("dies", tasks.always_die), Task("fine", tasks.square, (3,))], retries=1
    )
    dies = res[0]
    # lost once in the shared pool, then died alone on its attempt and its one retry
    assert not dies.ok and "died 2 time(s)" in (dies.error or "")
    assert dies.attempts == 3 and len(dies.retried) == 3
    # 'fine' was in the pool the dying worker broke: it runs again alone and comes back,
    # never dropped and never charged with the other task's death.
    assert res[1].id == "fine" and res[1].ok and res[1].value == 9


def test_bad_tasks_and_settings_are_refused() -> None:
    ex = LocalExecutor(1)
    with pytest.raises(InputError, match="unique"):
        ex.map([Task("a", tasks.square, (1,)), Task("a", tasks.square, (2,))])
    with pytest.raises(InputError, match="retries"):
        ex.map([Task("a", tasks.square, (1,))], retries=11)
    with pytest.raises(ConfigError, match="expected local"):
        executor_from_env("celery://x")
    with pytest.raises(ConfigError, match="local:N"):
        executor_from_env("local:many")
    assert isinstance(executor_from_env(""), LocalExecutor)
    assert isinstance(executor_from_env("inline"), InlineExecutor)
    assert executor_from_env("local:3").workers == 3  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray  # the ray extra: make test installs it; never skipped

    import tests.core._executor_tasks as mod

    ray.init(
        num_cpus=2,
        object_store_memory=80 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    # the tests package is not installed: ship the task module to the workers by value
    ray.cloudpickle.register_pickle_by_value(mod)
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_executor_gives_the_same_results(ray_cluster: None, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    local = LocalExecutor(2).map(_work(tmp_path / "a"), retries=2)
    ex = RayExecutor()
    seen: list[int] = []
    remote = ex.map(_work(tmp_path / "b"), retries=2, on_done=lambda r, d, t: seen.append(d))
    _check(remote, [t.id for t in _work(tmp_path / "b")])
    assert seen == list(range(1, len(remote) + 1))
    assert [r.value for r in remote if r.ok] == [r.value for r in local if r.ok]
    dead = ex.map([Task("dies", tasks.always_die)], retries=1)[0]
    assert not dead.ok and dead.attempts == 2 and len(dead.retried) == 2
    ex.close()  # joined a running cluster: leaves it up
    import ray

    assert ray.is_initialized()
