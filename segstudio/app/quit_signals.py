"""SIGTERM and SIGINT close the window the normal way: edits saved, the folder's lock released.

A logout, a system shutdown or Ctrl+C in the terminal send these. Python's
own handler only runs when the interpreter gets control, which Qt's event
loop (C++) does not give it: the signal would wait until the next mouse
move, and SIGTERM's default kills the process with the lock left behind,
so the next start reports a crash. Here a Python handler records the signal
and ``signal.set_wakeup_fd`` writes a byte to a socket pair; a
``QSocketNotifier`` on the other end wakes the event loop, which then closes
the window through ``closeEvent`` (jobs stopped, masks and state saved,
``session.lock`` removed) and quits.
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QSocketNotifier

log = logging.getLogger(__name__)

QUIT_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install_quit_signals(window) -> Callable[[], None]:
    """Routes SIGTERM/SIGINT to ``window.close()``; returns a function that undoes it (tests)."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    # The handler only has to exist (the default would kill the process); the wake-up byte
    # written at once by the C-level handler is the signal's number, read below.
    previous_handlers = {sig: signal.signal(sig, lambda _signum, _frame: None) for sig in QUIT_SIGNALS}
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, window)

    def woken() -> None:
        received = b""
        try:
            while chunk := reader.recv(64):
                received += chunk
        except (BlockingIOError, InterruptedError):
            pass
        numbers = [n for n in received if n in {int(s) for s in QUIT_SIGNALS}]
        if not numbers:
            return
        name = signal.Signals(numbers[-1]).name
        log.info("%s received: closing the window normally", name)
        for worker in window.workers.running():  # nobody is there to answer "stop running work?"
            worker.cancel()
        if window.close():
            QCoreApplication.quit()
        else:
            log.warning("%s: the window stayed open (the user chose to stay)", name)

    notifier.activated.connect(woken)

    def uninstall() -> None:
        notifier.setEnabled(False)
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
        reader.close()
        writer.close()

    window._quit_signals_uninstall = uninstall  # keeps the sockets alive as long as the window
    return uninstall


__all__ = ["QUIT_SIGNALS", "install_quit_signals"]
