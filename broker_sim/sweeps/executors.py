"""Where a sweep's points run: in this process, on a local process pool (every core), or on a Ray cluster.

Each executor takes `PointTask`s and yields `PointResult`s as the points finish, in whatever order they finish;
the sweep sorts them by point, so the table is the same whichever executor ran it and with how many workers.
Ctrl-C reaches the running points (each stops within a second and is left for ``--resume``) and the sweep,
which closes the executor; closing a pool stops its running points too, and a pool worker that was told to
stop starts no further point, so the points queued to it end at once instead of running to the end.
"""

from __future__ import annotations

import concurrent.futures
import enum
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import attrs
import numpy as np

from broker_sim.errors import ConfigError
from broker_sim.sweeps.data import SharedFile
from broker_sim.sweeps.worker import PointResult, PointStatus, PointTask, run_point

__all__ = [
    "ExecutorKind",
    "PointExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "SerialExecutor",
    "check_executor",
    "make_executor",
]


class ExecutorKind(enum.StrEnum):
    """The executors by name (``--executor``)."""

    PROCESS = "process"
    SERIAL = "serial"
    RAY = "ray"


class PointExecutor(Protocol):
    """Runs points and yields their results as they finish; closed with `close` (or ``with``)."""

    #: How many points run at once.
    workers: int

    def run(self, tasks: Iterable[PointTask]) -> Iterator[PointResult]:
        """Run every task; yield each result as it finishes."""
        ...

    def close(self) -> None:
        """Stop the workers (points not started are dropped)."""
        ...


class SerialExecutor:
    """Every point in this process, one after the other (debugging, tiny sweeps, `workers=1`)."""

    workers = 1

    def run(self, tasks: Iterable[PointTask]) -> Iterator[PointResult]:
        for task in tasks:
            yield run_point(task)

    def close(self) -> None:
        pass


def _ready() -> None:
    """A task that does nothing: starts the pool's workers."""


class _WorkerStop:
    """A pool worker's reason to start no further point: a signal between points, a point it ran that was
    interrupted, or the pool's stop event (set by `ProcessExecutor.close`). One per worker process."""

    signal_name: str | None = None
    event: Any = None

    @classmethod
    def start(cls, event: Any) -> None:
        """The pool's initializer: a SIGINT between points is noted, not raised (a run in progress handles it
        itself), and a thread turns the pool's stop event into a SIGINT to this worker, so that a running point
        stops within a second even when the signal reached only the sweep's own process (SIGTERM, a notebook)."""
        cls.event = event
        signal.signal(signal.SIGINT, cls.note)
        threading.Thread(target=cls.watch, args=(event,), name="broker-sim-stop", daemon=True).start()

    @staticmethod
    def watch(event: Any) -> None:
        event.wait()
        os.kill(os.getpid(), signal.SIGINT)

    @classmethod
    def note(cls, signum: int, frame: Any) -> None:
        cls.signal_name = signal.Signals(signum).name

    @classmethod
    def run(cls, task: PointTask) -> PointResult:
        """`run_point` in a pool worker: at once ``interrupted`` once the worker was told to stop."""
        if cls.signal_name is not None or cls.event.is_set():
            return PointResult(task.key, PointStatus.INTERRUPTED, error=cls.signal_name or "SIGINT")
        result = run_point(task)
        if result.status is PointStatus.INTERRUPTED:
            cls.signal_name = result.error or "SIGINT"
        return result


class ProcessExecutor:
    """A local process pool of `workers` processes (default: every core).

    On Linux the workers are forked, all at once when the pool starts (before the caller starts a progress bar's
    thread), so they begin with broker-sim and the strategy already imported and a script needs no
    ``if __name__ == "__main__":`` guard. Elsewhere they are spawned (that guard is then needed, as for any
    multiprocessing pool)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        self._stop = context.Event()
        self._pool = concurrent.futures.ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_WorkerStop.start, initargs=(self._stop,)
        )
        self._pool.submit(_ready).result()  # a fork pool starts every worker on its first task

    def run(self, tasks: Iterable[PointTask]) -> Iterator[PointResult]:
        """Keep every worker busy with two points queued each, and yield results as they come."""
        pending: set[concurrent.futures.Future[PointResult]] = set()
        queue = iter(tasks)
        limit = self.workers * 2
        try:
            while True:
                for task in queue:
                    pending.add(self._pool.submit(_WorkerStop.run, task))
                    if len(pending) >= limit:
                        break
                if not pending:
                    return
                done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        """Stop the pool: points not started are dropped (those already queued to a worker end at once) and the
        running ones stop within a second (interrupted: they run again on ``--resume``)."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


@attrs.frozen(slots=True)
class _RayData:
    """A shared file's bytes in Ray's object store, with the file it came from."""

    file: SharedFile
    ref: Any


def _ray_point(task: PointTask, data: dict[int, Any]) -> PointResult:
    """A Ray task: the point with its shared files taken from the object store where this node lacks them."""
    shared = {index: file.on_this_machine(data[index]) for index, file in task.shared.items()}
    return run_point(attrs.evolve(task, shared=shared))


class RayExecutor:
    """A Ray cluster (`address`: ``auto``, ``ray://host:10001``; None starts a local Ray instance with `workers`
    CPUs). Each shared file is put once into Ray's object store; a node that lacks the file reads it from there.
    Needs the ``[ray]`` extra."""

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'broker-sim[ray]'") from None
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if address is None:
                options["num_cpus"] = workers if workers is not None else (os.cpu_count() or 1)
            ray.init(address=address, **options)
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_ray_point)
        self._data: dict[str, Any] = {}

    def _refs(self, task: PointTask) -> dict[int, Any]:
        refs = {}
        for index, file in task.shared.items():
            ref = self._data.get(file.digest)
            if ref is None:
                ref = self._data[file.digest] = self._ray.put(_file_bytes(file.path))
            refs[index] = ref
        return refs

    def run(self, tasks: Iterable[PointTask]) -> Iterator[PointResult]:
        ray = self._ray
        pending = [self._remote.remote(task, self._refs(task)) for task in tasks]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        self._data.clear()
        if self._started:
            self._ray.shutdown()


def _file_bytes(path: str) -> Any:
    """A file's bytes as a numpy array, which Ray's object store holds without copying on the reading side."""
    return np.fromfile(path, dtype=np.uint8)


def check_executor(kind: ExecutorKind | str, workers: int | None = None, address: str | None = None) -> ExecutorKind:
    """The executor `kind` names, refused with a `ConfigError` naming the option when the options do not fit."""
    try:
        chosen = ExecutorKind(kind)
    except ValueError:
        raise ConfigError(f"executor must be one of {', '.join(k.value for k in ExecutorKind)}, got {kind!r}") from None
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if address is not None and chosen is not ExecutorKind.RAY:
        raise ConfigError(f"--address is for --executor ray, not {chosen.value}")
    return chosen


def make_executor(kind: ExecutorKind | str, workers: int | None = None, address: str | None = None) -> PointExecutor:
    """The executor `kind` names (``process``, ``serial``, ``ray``), started."""
    chosen = check_executor(kind, workers, address)
    if chosen is ExecutorKind.SERIAL or (chosen is ExecutorKind.PROCESS and workers == 1):
        return SerialExecutor()
    if chosen is ExecutorKind.PROCESS:
        return ProcessExecutor(workers)
    return RayExecutor(workers, address)
