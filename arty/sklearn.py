"""``wandb.sklearn`` with ``arty`` in place of ``wandb``: ``from arty import sklearn`` or
``import arty.sklearn``. The same names as :mod:`arty.integration.sklearn`."""

from arty.integration.sklearn import *  # noqa: F401,F403
from arty.integration.sklearn import __all__  # noqa: F401
