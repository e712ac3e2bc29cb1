"""What the command line and the app share about the running system.

``version`` (the version report of ``--version`` and Help > About),
``logsetup`` (the log folder; a windowed process without a console),
``shortcuts`` (per-user launchers). Both ``segstudio.cli`` and
``segstudio.app`` import from here, never from each other. It may use core
and ml, never cli or app.
"""
