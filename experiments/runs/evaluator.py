"""One evaluator: tasks in, outcomes out, whatever the executor.

Sweeps, sensitivity, optimisation, the A/B simulation, calibration, forecasts and the recovery
study all turn scenarios into numbers the same way, so they share this one loop:

- A `Task` is picklable: a point and replicate that name it, the function that runs it and its
  arguments. It runs inside `_attempt` on the worker, which turns an exception into an error
  text there: a task that raises is an outcome like any other, and the others complete.
- Bounded submission: at most `4 x workers` futures are in flight, so every worker is busy but
  few scenarios are shipped (and held by a scheduler) at once.
- Lost workers: a future that fails without an answer from the task (a process-pool worker
  killed: BrokenProcessPool for every future in flight; Dask giving up on a task whose workers
  died: KilledWorker) is run again. An executor with `renew` (the process pool) is replaced
  first. A re-run goes alone, with nothing else in flight, so a task that kills its worker
  every time (a point that runs out of memory) is found and charged, not its neighbours; a task
  is run at most `1 + retries` times, then reported as lost.
- `on_outcome` sees each outcome as it arrives (by point and replicate within a batch that
  finishes together) and may stop the rest by returning True; `progress(done, total, failed)`
  follows every outcome. The serial executor runs a task at submit, one at a time.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass
from typing import Any

from experiments.runs.executors import workers_of

RETRIES = 2  # re-runs of a task whose worker was lost, each with nothing else in flight
Progress = Callable[[int, int, int], None]  # (tasks done, tasks in total, failures so far)


@dataclass(frozen=True)
class Task:
    """One unit of work, picklable: `run(*args)` on a worker; point and replicate name it."""

    point: int
    replicate: int
    run: Callable[..., Any]
    args: tuple[Any, ...] = ()

    @property
    def label(self) -> str:
        return f"point {self.point} replicate {self.replicate}"


@dataclass(frozen=True)
class TaskOutcome:
    """What became of a task: its value, or the error it raised (or why it was lost)."""

    task: Task
    value: Any = None
    error: str | None = None
    seconds: float = 0.0
    attempts: int = 1
    lost: bool = False  # the executor lost it on every attempt (its worker died)

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        return f"{self.task.label}: {self.error}"


class TaskError(RuntimeError):
    """A caller that needs every task's value met one that failed."""

    def __init__(self, outcome: TaskOutcome) -> None:
        super().__init__(outcome.describe())
        self.outcome = outcome


def error_text(exc: BaseException) -> str:
    """`Type: first line of the message`, at most 500 characters: one line for reports."""
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message}"[:500]


@dataclass(frozen=True)
class _Returned:
    value: Any
    error: str | None
    seconds: float


def _attempt(run: Callable[..., Any], *args: Any) -> _Returned:
    """Runs on the worker: an exception becomes an error text there, so it always pickles."""
    started = time.perf_counter()
    try:
        value = run(*args)
    except Exception as exc:  # a failed task is data; KeyboardInterrupt still stops the caller
        return _Returned(None, error_text(exc), time.perf_counter() - started)
    return _Returned(value, None, time.perf_counter() - started)


@dataclass(frozen=True)
class _Flight:
    index: int
    task: Task
    attempts: int
    alone: bool
    generation: int


class _Evaluation:
    """The state of one `evaluate` call: pending, in flight, re-runs, outcomes."""

    def __init__(self, executor: Executor, tasks: Sequence[Task],
                 on_outcome: Callable[[TaskOutcome], bool | None] | None,
                 progress: Progress | None, retries: int) -> None:
        self.executor, self.on_outcome, self.progress = executor, on_outcome, progress
        self.retries, self.total = retries, len(tasks)
        self.window = max(2, 4 * workers_of(executor))
        self.pending: deque[tuple[int, Task]] = deque(enumerate(tasks))
        self.rerun: deque[tuple[int, Task, int]] = deque()
        self.in_flight: dict[Future, _Flight] = {}
        self.outcomes: dict[int, TaskOutcome] = {}
        self.failed, self.stopped = 0, False

    def run(self) -> list[TaskOutcome]:
        try:
            while not self.stopped:
                self._submit()
                if not self.in_flight:
                    break
                self._collect()
        finally:
            for future in self.in_flight:
                future.cancel()
        return [self.outcomes[i] for i in sorted(self.outcomes)]

    def _submit(self) -> None:
        """Fill the window; a re-run waits until nothing is in flight, then goes alone."""
        if any(f.alone for f in self.in_flight.values()):
            return
        if self.rerun:
            if not self.in_flight:
                index, task, attempts = self.rerun.popleft()
                self._send(index, task, attempts + 1, alone=True)
            return
        while self.pending and len(self.in_flight) < self.window:
            index, task = self.pending.popleft()
            if self._send(index, task, 1, alone=False).done():
                return  # serial: hand this outcome over before the next task runs

    def _send(self, index: int, task: Task, attempts: int, alone: bool) -> Future:
        generation = getattr(self.executor, "generation", 0)
        future = self.executor.submit(_attempt, task.run, *task.args)
        self.in_flight[future] = _Flight(index, task, attempts, alone, generation)
        return future

    def _collect(self) -> None:
        done, _ = wait(list(self.in_flight), return_when=FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: _key(self.in_flight[f].task)):
            flight = self.in_flight.pop(future)
            try:
                returned = future.result()
            except Exception as exc:  # no answer from the task: its worker was lost
                self._lost(flight, exc)
                continue
            self._finish(flight, TaskOutcome(flight.task, returned.value, returned.error,
                                             returned.seconds, flight.attempts))
            if self.stopped:
                return

    def _lost(self, flight: _Flight, exc: Exception) -> None:
        renew = getattr(self.executor, "renew", None)
        if renew is not None:
            renew(flight.generation)
        if flight.attempts > self.retries:
            self._finish(flight, TaskOutcome(
                flight.task, error=f"worker lost on {flight.attempts} attempt(s): "
                f"{error_text(exc)}", attempts=flight.attempts, lost=True))
        else:
            self.rerun.append((flight.index, flight.task, flight.attempts))

    def _finish(self, flight: _Flight, outcome: TaskOutcome) -> None:
        self.outcomes[flight.index] = outcome
        self.failed += not outcome.ok
        if self.on_outcome is not None and self.on_outcome(outcome):
            self.stopped = True
        if self.progress is not None:
            self.progress(len(self.outcomes), self.total, self.failed)


def _key(task: Task) -> tuple[int, int]:
    return task.point, task.replicate


def evaluate(executor: Executor, tasks: Sequence[Task], *,
             on_outcome: Callable[[TaskOutcome], bool | None] | None = None,
             progress: Progress | None = None, retries: int = RETRIES) -> list[TaskOutcome]:
    """Run every task through the executor; the outcomes in the tasks' order (only those that
    finished when `on_outcome` stopped the rest). KeyboardInterrupt propagates after the
    futures in flight are cancelled."""
    return _Evaluation(executor, tasks, on_outcome, progress, retries).run()


def stop_at_failure(outcome: TaskOutcome) -> bool:
    """An `on_outcome` for callers that need every value: stop at the first failure."""
    return not outcome.ok


def all_values(outcomes: list[TaskOutcome]) -> list[Any]:
    """Every outcome's value, in order; TaskError (naming the task) at the first failure."""
    for outcome in outcomes:
        if not outcome.ok:
            raise TaskError(outcome)
    return [o.value for o in outcomes]
