"""The one evaluator: failures are outcomes, lost workers are replaced and their tasks re-run,
and the values equal an uninterrupted run's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from experiments.runs.evaluator import Task, TaskError, all_values, evaluate, stop_at_failure
from experiments.runs.executors import ProcessExecutor, SerialExecutor


def square(x: int) -> int:
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three is refused")
    return x * x


def die_once(x: int, marker: str) -> int:
    """Kill the worker process the first time (as `kill -9` or the OOM killer would)."""
    if not os.path.exists(marker):
        Path(marker).write_text("died")
        os._exit(9)
    return x * x


def always_die(x: int) -> int:
    os._exit(9)


def _tasks(fn, n: int = 6, extra: tuple = ()) -> list[Task]:
    return [Task(i, 0, fn, (i, *extra)) for i in range(n)]


def test_a_task_that_raises_is_an_outcome_and_the_others_complete() -> None:
    with SerialExecutor() as executor:
        outcomes = evaluate(executor, _tasks(fail_on_three))
    assert [o.ok for o in outcomes] == [True, True, True, False, True, True]
    assert outcomes[3].error == "ValueError: three is refused"
    assert [o.value for o in outcomes if o.ok] == [0, 1, 4, 16, 25]
    with pytest.raises(TaskError, match="point 3 replicate 0: ValueError"):
        all_values(outcomes)


def test_stop_at_failure_stops_the_rest_and_progress_counts_every_outcome() -> None:
    seen: list[tuple[int, int, int]] = []
    with SerialExecutor() as executor:
        outcomes = evaluate(executor, _tasks(fail_on_three), on_outcome=stop_at_failure,
                            progress=lambda done, total, failed: seen.append((done, total, failed)))
    assert len(outcomes) == 4 and not outcomes[-1].ok
    assert seen == [(1, 6, 0), (2, 6, 0), (3, 6, 0), (4, 6, 1)]


def test_a_lost_worker_is_replaced_and_its_task_rerun(tmp_path: Path) -> None:
    marker = str(tmp_path / "died")
    with ProcessExecutor(2) as executor:
        outcomes = evaluate(executor, _tasks(die_once, extra=(marker,)))
        assert executor.generation >= 1  # the broken pool was replaced
    assert all(o.ok for o in outcomes), [o.describe() for o in outcomes if not o.ok]
    assert [o.value for o in outcomes] == [i * i for i in range(6)]  # as if nothing happened
    assert max(o.attempts for o in outcomes) == 2


def test_a_task_that_kills_its_worker_every_time_is_reported_alone(tmp_path: Path) -> None:
    tasks = [*_tasks(square, 4), Task(9, 1, always_die, (9,))]
    with ProcessExecutor(2) as executor:
        outcomes = evaluate(executor, tasks, retries=1)
    lost = [o for o in outcomes if not o.ok]
    assert [(o.task.point, o.task.replicate, o.lost, o.attempts) for o in lost] == [(9, 1, True, 2)]
    assert "worker lost on 2 attempt(s)" in lost[0].error
    assert [o.value for o in outcomes if o.ok] == [0, 1, 4, 9]


def test_a_counting_executor_reports_every_finished_task_across_evaluations() -> None:
    from experiments.runs.executors import CountingExecutor

    seen: list[tuple[int, int]] = []
    with SerialExecutor() as inner:
        counted = CountingExecutor(inner, lambda d, t, f: seen.append((d, t)), total=8)
        first = evaluate(counted, _tasks(square, 3))
        second = evaluate(counted, _tasks(square, 6))
    assert [o.value for o in first + second] == [0, 1, 4, 0, 1, 4, 9, 16, 25]
    assert [d for d, _ in seen] == list(range(1, 10))
    assert seen[-1] == (9, 9)  # the total grows when the estimate was short


def test_a_counting_executor_keeps_the_pool_renewal_of_what_it_wraps(tmp_path: Path) -> None:
    from experiments.runs.executors import CountingExecutor

    marker = str(tmp_path / "died")
    with ProcessExecutor(2) as inner:
        counted = CountingExecutor(inner, lambda *_: None, total=6)
        outcomes = evaluate(counted, _tasks(die_once, extra=(marker,)))
        assert counted.generation >= 1
    assert [o.value for o in outcomes] == [i * i for i in range(6)]
