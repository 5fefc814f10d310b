"""The index layer: a SQLite cache of the store's runs and artifacts, and run queries.

Derived and rebuildable (DESIGN.md, "The SQLite index is a cache"): deleting
the file loses nothing. See :class:`Index`, :mod:`arty.index.filters` for the
filter language and :mod:`arty.index.segments` for reading history.
"""

from arty.index.filters import compile_filter, compile_order
from arty.index.index import INDEX_FILE, Index
from arty.index.records import CRASH_AFTER_S, derive_state
from arty.index.schema import SCHEMA_VERSION

__all__ = ["CRASH_AFTER_S", "INDEX_FILE", "Index", "SCHEMA_VERSION", "compile_filter", "compile_order",
           "derive_state"]
