"""The Arty server: a JSON API and the web UI over one store (``art server``).

Needs the ``server`` extra (``pip install "arty[server]"``: FastAPI, uvicorn, plotly).
See docs/server.md for the API. :mod:`arty.server.accounts` (users, keys, roles) needs no
extra: ``art server users ...`` works without it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that arty.server.accounts loads without the server extra.
    if name == "create_app":
        from arty.server.app import create_app

        return create_app
    raise AttributeError(f"module 'arty.server' has no attribute '{name}'")
