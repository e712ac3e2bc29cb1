"""The one worker pattern for long jobs: a generator run on a QThread.

A job is a plain function ``job(should_stop) -> Iterator[event]`` from core or
ml (training, inference, thumbnails). It never sees Qt. The worker runs it on
its own ``QThread`` and relays each yielded event as ``progress``; the
generator's return value arrives as ``result``. ``cancel()`` only sets a flag
that the job reads through ``should_stop``: cancellation is cooperative, so
a job stops at a point where its state is consistent.

Signals are emitted from the worker thread and, because the receivers live on
the GUI thread, Qt queues them: slots run on the GUI thread, so widgets are
only ever touched there.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)

Job = Callable[[Callable[[], bool]], Iterator[Any]]


class JobCancelled(Exception):
    """A job may raise this when it notices ``should_stop()``; not a failure."""


class Worker(QObject):
    """Runs one job on its own thread. Create, connect, then ``start()``.

    Exactly one of ``result`` (then ``finished``), ``cancelled`` (then
    ``finished``) or ``failed`` (then ``finished``) is emitted per run.
    """

    progress = Signal(object)
    result = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, job: Job, name: str = "job", parent: QObject | None = None) -> None:
        super().__init__(None)  # moved to its thread: must have no parent
        self.name = name
        self._job = job
        self._stop = threading.Event()
        self._thread = QThread(parent)
        self._thread.setObjectName(f"segstudio-{name}")
        self.moveToThread(self._thread)
        self._thread.started.connect(self._run)
        self.finished.connect(self._thread.quit)

    # --- called from the GUI thread -------------------------------------
    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._stop.set()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, msecs: int = -1) -> bool:
        """Joins the thread; ``True`` once it has ended."""
        if msecs < 0:
            return self._thread.wait()
        return self._thread.wait(msecs)

    def should_stop(self) -> bool:
        return self._stop.is_set()

    # --- runs on the worker thread --------------------------------------
    @Slot()
    def _run(self) -> None:
        try:
            generator = self._job(self.should_stop)
            while True:
                try:
                    event = next(generator)
                except StopIteration as stop:
                    if self._stop.is_set():
                        self.cancelled.emit()
                    else:
                        self.result.emit(stop.value)
                    break
                self.progress.emit(event)
        except JobCancelled:
            self.cancelled.emit()
        except Exception as exc:  # every failure becomes a message, never a dead app
            log.error("job %s failed:\n%s", self.name, traceback.format_exc())
            self.failed.emit(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        finally:
            self.finished.emit()


class WorkerRegistry(QObject):
    """Keeps every running worker alive and stops and joins them all on close."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._workers: list[Worker] = []

    def start(self, worker: Worker) -> Worker:
        self._workers.append(worker)
        worker.finished.connect(lambda w=worker: self._forget(w))
        worker.start()
        return worker

    def _forget(self, worker: Worker) -> None:
        # ``finished`` is emitted just before the thread ends: join it before
        # dropping the last reference, or Qt aborts with "QThread destroyed
        # while thread is still running".
        worker.wait()
        if worker in self._workers:
            self._workers.remove(worker)

    def running(self) -> list[Worker]:
        return [w for w in self._workers if w.is_running()]

    def stop_all(self, timeout_ms: int = 30000) -> bool:
        """Cancels every worker and joins its thread; ``True`` if all ended."""
        workers = list(self._workers)
        for worker in workers:
            worker.cancel()
        ended = all(worker.wait(timeout_ms) for worker in workers)
        self._workers.clear()
        return ended
