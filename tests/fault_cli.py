"""Run the real ``art`` CLI with the faults the ``ARTY_TEST_*`` variables ask for.

``python tests/fault_cli.py ARGS...`` is ``art ARGS...`` whose store backend is
wrapped by tests/faults.py (see its docstring for the variables).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faults import install_from_env  # noqa: E402

install_from_env()

from arty.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
