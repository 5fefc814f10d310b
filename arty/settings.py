"""Which store and project a command or script uses.

Store, first match wins: an explicit URL (``--store``), ``ARTY_STORE``, a
``.arty/`` folder found upward from the current folder like ``.git`` (a local
store when it holds ``store.json``, else a pointer ``config.json`` naming a
URL), the server ``art login`` made the default (:mod:`arty.store.credentials`),
and finally a new local store in ``./.arty``.

Project: an explicit name (``--project``), ``ARTY_PROJECT``, the store's
``default_project``, else ``"default"``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from arty.errors import NotFound, StoreError
from arty.store import Store, credentials, init_store, open_store
from arty.store.layout import PROJECTS, STORE_JSON

DOT_DIR = ".arty"
POINTER = "config.json"
DEFAULT_PROJECT = "default"


def find_dot_dir(start: str | None = None) -> str | None:
    """The nearest ``.arty`` folder at or above ``start`` (default: cwd)."""
    here = os.path.abspath(start or os.getcwd())
    while True:
        candidate = os.path.join(here, DOT_DIR)
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def read_pointer(dot_dir: str) -> str | None:
    """The store URL a ``.arty/config.json`` points at, if any."""
    path = os.path.join(dot_dir, POINTER)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("store")
    except FileNotFoundError:
        return None
    except (ValueError, AttributeError) as exc:
        raise StoreError(f"cannot read '{path}': {exc}", hint="fix or remove the file") from None


def find_store_url(start: str | None = None) -> str | None:
    """The store URL from ``ARTY_STORE``, an upward ``.arty`` folder, or the server ``art login``
    made the default, else None."""
    env = os.environ.get("ARTY_STORE")
    if env:
        return env
    dot = find_dot_dir(start)
    if dot is None:
        return credentials.default_store()
    if os.path.exists(os.path.join(dot, STORE_JSON)):
        return dot
    return read_pointer(dot) or dot


def resolve_store(url: str | None = None, *, create: bool = True,
                  storage_options: dict[str, Any] | None = None) -> Store:
    """Open the store a command should use (see module docstring).

    With ``create``, a missing local default store is created in ``./.arty``.
    """
    url = url or find_store_url()
    if url is None:
        if not create:
            raise NotFound(f"no store found in '{os.getcwd()}' or above",
                           hint="'art add' creates one in ./.arty; or 'art init', --store URL, ARTY_STORE")
        url = os.path.join(os.getcwd(), DOT_DIR)
    if create and "://" not in url and not os.path.exists(os.path.join(url, STORE_JSON)):
        return init_store(url, storage_options=storage_options)[0]
    return open_store(url, storage_options=storage_options)


def resolve_project(store: Store, project: str | None = None) -> str:
    return project or os.environ.get("ARTY_PROJECT") or store.default_project or DEFAULT_PROJECT


def store_default_project(store: Store) -> str:
    """The project a command uses when none is named: the store's ``default_project``, else
    ``"default"``."""
    return store.default_project or DEFAULT_PROJECT


def store_projects(store: Store) -> list[str]:
    """The projects that have records in the store (runs, artifacts), by name."""
    return [p for p in store.list(PROJECTS) if not p.startswith(".")]


def project_not_found(project: str, known: list[str]) -> NotFound:
    """The error for a project that has no records, listing those that have."""
    return NotFound(f"project '{project}' not found (projects: {', '.join(known) if known else 'none yet'})",
                    hint="--project NAME picks another; a project is made by the first 'art add' or run "
                         "logged to it")


def check_project(store: Store, project: str, known: list[str] | None = None) -> None:
    """Raise :func:`project_not_found` unless ``project`` has records in the store or is the
    store's default project (which a new store has before anything is logged). ``known``: the
    projects with records, when the caller has them (else the store is listed)."""
    if project == store_default_project(store):
        return
    known = store_projects(store) if known is None else known
    if project not in known:
        raise project_not_found(project, known)
