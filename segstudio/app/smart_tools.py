"""The smart tools' Qt side: their slow work on worker threads, the visible rect, the tool set.

``build_tools(window)`` makes every tool of the window: the plain ones of
``core.tools`` and the smart ones of ``core.smart_tools``, which get a
``SmartServices`` whose runner starts one ``Worker`` per job (edge map,
superpixel tile, GrabCut box) and calls the tool back on the GUI thread, so
no mouse move waits for them.
"""

from __future__ import annotations

from segstudio.app.worker import Worker
from segstudio.core.smart_tools import SMART_TOOL_CLASSES, SmartServices
from segstudio.core.tools import TOOL_CLASSES


def background_runner(window):
    """``run(job, done)`` for the smart tools: ``job`` on a worker thread, ``done`` on the GUI thread."""

    def run(job, done) -> None:
        def generator(should_stop):
            return job()
            yield  # a generator function: the Worker's job contract

        worker = Worker(generator, name="smart tool", parent=window)
        worker.result.connect(done)
        worker.failed.connect(lambda message: window.show_message(f"Smart tool failed: {message}"))
        window.workers.start(worker)

    return run


def visible_rect(canvas):
    """The image rect the canvas shows now, ``(y0, x0, y1, x1)``."""
    r = canvas.mapToScene(canvas.viewport().rect()).boundingRect()
    return int(r.top()), int(r.left()), int(r.bottom()) + 1, int(r.right()) + 1


def build_tools(window) -> dict:
    """Every tool by name, plain then smart (the tool bar's order)."""
    services = SmartServices(run=background_runner(window), view_rect=lambda: visible_rect(window.canvas))
    # Superpixels belong to one image: forget them when another one is shown.
    window.current_image_changed.connect(lambda _key: services.superpixel_cache.clear())
    tools = {cls.name: cls(window.session) for cls in TOOL_CLASSES}
    tools.update({cls.name: cls(window.session, services) for cls in SMART_TOOL_CLASSES})
    return tools
