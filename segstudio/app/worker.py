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


class _JobThread(QThread):
    """Runs the generator in ``run()``; its signals are relayed by the Worker."""

    progress = Signal(object)
    result = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, job: Job, name: str, stop: threading.Event) -> None:
        super().__init__(None)
        self.setObjectName(f"segstudio-{name}")
        self._job, self._name, self._stop = job, name, stop

    def run(self) -> None:
        try:
            generator = self._job(self._stop.is_set)
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
            log.error("job %s failed:\n%s", self._name, traceback.format_exc())
            self.failed.emit(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        finally:
            self.done.emit()


class Worker(QObject):
    """Runs one job on its own thread. Create, connect, then ``start()``.

    The Worker itself stays on the GUI thread; the job runs in a private
    QThread's ``run()``. Its signals reach the Worker's slots queued, and the
    Worker re-emits them from the GUI thread, so any slot connected to a
    Worker signal (lambdas included) runs on the GUI thread.

    Exactly one of ``result``, ``cancelled`` or ``failed`` is emitted per run,
    then ``finished``.
    """

    progress = Signal(object)
    result = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, job: Job, name: str = "job", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._stop = threading.Event()
        self._thread = _JobThread(job, name, self._stop)
        # Bound methods of this GUI-thread object: Qt queues these calls.
        self._thread.progress.connect(self._relay_progress)
        self._thread.result.connect(self._relay_result)
        self._thread.failed.connect(self._relay_failed)
        self._thread.cancelled.connect(self._relay_cancelled)
        self._thread.done.connect(self._relay_finished)

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

    # --- relays: run on the GUI thread ------------------------------------
    @Slot(object)
    def _relay_progress(self, event) -> None:
        if not self._stop.is_set():  # after cancel, late events are dropped
            self.progress.emit(event)

    @Slot(object)
    def _relay_result(self, value) -> None:
        self.result.emit(value)

    @Slot(str)
    def _relay_failed(self, message: str) -> None:
        self.failed.emit(message)

    @Slot()
    def _relay_cancelled(self) -> None:
        self.cancelled.emit()

    @Slot()
    def _relay_finished(self) -> None:
        self._thread.wait()  # run() has returned or is returning: a short join
        self.finished.emit()


class WorkerRegistry(QObject):
    """Keeps every running worker alive and stops and joins them all on close."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._workers: list[Worker] = []

    def start(self, worker: Worker) -> Worker:
        self._workers.append(worker)
        worker.finished.connect(lambda w=worker: self._forget(w))  # GUI thread: see Worker
        worker.start()
        return worker

    def _forget(self, worker: Worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)

    def running(self) -> list[Worker]:
        return [w for w in self._workers if w.is_running()]

    def stop_all(self, timeout_ms: int = 30000) -> bool:
        """Cancels every worker and joins its thread (``timeout_ms=-1``: for as long
        as it takes); ``True`` if all ended. Workers still running stay registered,
        so a later call can join them."""
        workers = list(self._workers)
        for worker in workers:
            worker.cancel()
        ended = [worker for worker in workers if worker.wait(timeout_ms)]
        # Deliver the queued finished/result signals now, while receivers exist.
        from PySide6.QtCore import QCoreApplication

        QCoreApplication.processEvents()
        for worker in ended:
            self._forget(worker)
        return len(ended) == len(workers)
