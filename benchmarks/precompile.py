"""Benchmarks time Arty as an installed package runs: from byte-compiled modules.

``pip install`` byte-compiles a package, and Python writes ``__pycache__`` on first import;
but a source tree used through ``PYTHONPATH`` or an editable install under
``PYTHONDONTWRITEBYTECODE=1`` would compile every module from source in every process (about
0.15-0.3 s per command here), which is not what users run. :func:`compile_arty` writes the
bytecode of the package once before the timings start (``compileall`` writes it whatever that
variable says; the processes then read it).
"""

from __future__ import annotations

import compileall
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def compile_arty() -> None:
    """Byte-compile the ``arty`` package of this source tree (quietly; up-to-date files are skipped)."""
    compileall.compile_dir(os.path.join(ROOT, "arty"), quiet=1)
