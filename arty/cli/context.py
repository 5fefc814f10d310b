"""What every command shares: the store and project chosen by the global options."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # loaded by the commands that use a store, not by ``art --help``
    from arty.artifacts import Registry
    from arty.store import Store


class Context:
    """Resolves ``--store`` and ``--project`` lazily, once."""

    def __init__(self, store_url: str | None, project: str | None) -> None:
        self.store_url = store_url
        self.project_name = project
        self._store: Store | None = None
        self._registry: Registry | None = None

    @property
    def store(self) -> Store:
        """The store, which must exist (read commands never create one by accident)."""
        if self._store is None:
            from arty.settings import resolve_store

            self._store = resolve_store(self.store_url, create=False)
        return self._store

    @property
    def writable_registry(self) -> Registry:
        """The registry for a writing command: a missing local store is created first."""
        if self._store is None:
            from arty.settings import resolve_store

            self._store = resolve_store(self.store_url, create=True)
        return self.registry

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from arty.artifacts import Registry
            from arty.settings import resolve_project

            self._registry = Registry(self.store, resolve_project(self.store, self.project_name))
        return self._registry


#: Decorators every command module shares.
pass_ctx = click.make_pass_decorator(Context)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
