"""The Arty server: a JSON API and the web UI over one store (``art server``).

Needs the ``server`` extra (``pip install "arty[server]"``: FastAPI, uvicorn, plotly).
See docs/server.md for the API.
"""

from __future__ import annotations

from arty.server.app import create_app

__all__ = ["create_app"]
