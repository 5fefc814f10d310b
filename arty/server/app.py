"""The server application: the JSON API under ``/api``, its OpenAPI spec, and the web UI.

::

    from arty.server import create_app
    app = create_app("/data/store", token="s3cret")    # any ASGI server runs it
    # uvicorn.run(app, host="127.0.0.1", port=8080)    # what 'art server' does

Routes: ``/api/...`` (see docs/server.md), ``/openapi.json`` and ``/docs``,
``/vendor/plotly-<version>.min.js`` and ``/vendor/plotly.min.js`` (read from the installed
``plotly`` package, compressed; see :mod:`arty.server.vendor`),
``/static/...`` (the UI's files) and the UI's pages (``/``, ``/p/{project}``,
...), which all return the single page ``static/index.html``.
"""

from __future__ import annotations

import contextlib
import os
from typing import AsyncIterator, Iterable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from arty.errors import ArtyError
from arty.server import (errors, routes_artifacts, routes_auth, routes_automations, routes_protocol, routes_registry,
                         routes_runs, routes_store, routes_sweeps, routes_usage, routes_workspace)
from arty.server.accounts import DEFAULT_TTL
from arty.server.guard import Guard, HostPolicy
from arty.server.state import ServerState
from arty.server.vendor import DAILY, IMMUTABLE, PlotlyJs, plotly_js_path
from arty.settings import resolve_store
from arty.store import Store

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
#: The UI's pages: each returns index.html, which routes on the client.
UI_ROUTES = ("/", "/p/{project}", "/p/{project}/runs/{run_id}", "/p/{project}/compare", "/p/{project}/artifacts",
             "/p/{project}/artifacts/{name}", "/p/{project}/artifacts/{name}/{version}", "/p/{project}/automations",
             "/p/{project}/sweeps", "/p/{project}/sweeps/{sweep_id}", "/registry", "/registry/{registry}")


def create_app(store: str | Store, *, token: str | None = None, index_path: str | None = None,
               host: str = "127.0.0.1", allowed_hosts: Iterable[str] = (), public_read: Iterable[str] = (),
               trust_proxy: bool = False, auth_ttl: float = DEFAULT_TTL, automations: bool = False) -> FastAPI:
    """The ASGI app serving ``store`` (a :class:`arty.Store` or a URL of an existing store).

    Who may do what (:mod:`arty.server.access`): a store without users (``auth/`` in the
    store, see :mod:`arty.server.accounts`) and without ``token`` is open; with ``token``
    only, every change requires it (``Authorization: Bearer <token>`` or ``X-Arty-Token``);
    once users exist, every request needs an API key or a UI session, except reads of the
    ``public_read`` projects, and each project's role is checked. ``trust_proxy``: believe
    ``X-Forwarded-Proto`` (a TLS proxy in front) for the session cookie's ``Secure`` flag.
    ``auth_ttl``: seconds a lookup of keys, users and grants is cached (how long a revocation
    may take to reach this server).
    ``index_path`` puts the SQLite index elsewhere (default: the store's cache folder).
    ``automations``: run the deliverer of webhooks (:mod:`arty.automations.deliver`) in a thread
    while the app is up (``art server`` does).

    ``host`` is the address the app is served on and ``allowed_hosts`` the other names it
    may be reached by: requests whose ``Host`` header names anything else are refused
    (400), against DNS rebinding (see :mod:`arty.server.guard`). A loopback ``host`` also
    answers ``localhost``, ``127.0.0.1`` and ``[::1]``; ``0.0.0.0`` answers those and any IP
    address; ``"*"`` in ``allowed_hosts`` answers any name. Changes from another site's
    pages (a foreign ``Origin``) are refused (403), and every page carries a strict
    Content-Security-Policy.
    """
    policy = HostPolicy.for_address(host, allowed_hosts)
    opened = store if isinstance(store, Store) else resolve_store(store, create=False)
    state = ServerState(opened, token=token, index_path=index_path, public_read=public_read,
                        trust_proxy=trust_proxy, auth_ttl=auth_ttl)
    plotly = PlotlyJs()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Open the index and catch up with the store before the first request, not during it
        # (done here, before serving, nothing else uses the index yet). A failure is left for
        # the requests to report.
        plotly.warm()
        try:
            state.index.catch_up()
        except ArtyError:
            pass
        deliverer = None
        if automations:
            from arty.automations.deliver import Deliverer

            deliverer = Deliverer(opened, actions=("webhook",), index=state.index, log=_log)
            deliverer.start()
        yield
        if deliverer is not None:
            deliverer.stop()
        state.close()

    app = FastAPI(title="Arty", version=_version(), lifespan=lifespan,
                  default_response_class=errors.ArtyJSONResponse,
                  description="The JSON API of an Arty store: projects, runs, metrics, artifacts, lineage.")
    app.state.arty = state
    errors.install(app)
    app.add_middleware(Guard, policy=policy)  # outermost: nothing runs for a refused host

    api = APIRouter(prefix="/api")
    for module in (routes_store, routes_runs, routes_artifacts, routes_usage, routes_auth, routes_protocol,
                   routes_workspace, routes_automations, routes_sweeps, routes_registry):
        api.include_router(module.router)
    app.include_router(api)

    def no_plotly() -> Response:
        return errors.error_response(404, "plotly.js is not installed",
                                     "pip install 'arty[server]' installs the charts library")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js(request: Request) -> Response:
        return no_plotly() if plotly.path is None else plotly.response(request, DAILY)

    @app.get("/vendor/plotly-{version}.min.js", include_in_schema=False)
    def plotly_js_versioned(request: Request, version: str) -> Response:
        if plotly.path is None:
            return no_plotly()
        if version != plotly.version:
            return errors.error_response(404, f"plotly.js '{version}' is not served here",
                                         f"this server has plotly.js {plotly.version}: reload the page")
        return plotly.response(request, IMMUTABLE)

    index_html = os.path.join(STATIC_DIR, "index.html")

    def page() -> Response:
        if not os.path.isfile(index_html):
            return errors.error_response(404, "the web UI is not installed", "the JSON API is under /api; see /docs")
        with open(index_html, encoding="utf-8") as f:
            html = plotly.page(f.read())
        return Response(html, media_type="text/html", headers={"Cache-Control": "no-cache"})

    for route in UI_ROUTES:
        app.add_api_route(route, page, methods=["GET"], include_in_schema=False, response_class=Response)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    return app


def _log(message: str) -> None:
    import sys

    print(f"arty: {message}", file=sys.stderr, flush=True)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("arty")
    except Exception:  # noqa: BLE001 - a source checkout without metadata
        return "0"


