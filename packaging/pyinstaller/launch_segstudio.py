"""The bundle's entry script: the same code as ``python -m segstudio``.

A separate file rather than ``segstudio/__main__.py`` itself, so that the
package is imported as a package (``segstudio.__main__``), not run as a loose
``__main__`` script. ``freeze_support()`` comes first: a multiprocessing child
started by the frozen executable must stop here, not open another window.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from segstudio.__main__ import gui_main

    sys.exit(gui_main())
