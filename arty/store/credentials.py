"""API keys saved by ``art login``, per server URL, in the user's config folder.

The file is ``$XDG_CONFIG_HOME/arty/credentials.json`` (``~/.config/arty/credentials.json``),
or ``ARTY_CREDENTIALS`` when set; it is created with mode 0600 and replaced atomically::

    {"keys": {"https://arty.example.com": "<key>"}, "default": "https://arty.example.com"}

``default`` is the store used when neither ``--store``, ``ARTY_STORE`` nor a ``.arty`` folder
says otherwise (see :mod:`arty.settings`). Keys are never printed or logged.
"""

from __future__ import annotations

import json
import os
from typing import Any

from arty.errors import StoreError, StorePermissionDenied, UsageError
from arty.store.localfile import replace_file

ENV_KEY = "ARTY_API_KEY"
ENV_FILE = "ARTY_CREDENTIALS"


def normalise_url(url: str) -> str:
    """A server URL as keys are saved under it: scheme and host lowercased, no trailing slash."""
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise UsageError(f"invalid server URL '{url}'", hint="http://HOST:PORT or https://HOST")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")


def credentials_path() -> str:
    """Where the credentials file lives (see the module docstring)."""
    explicit = os.environ.get(ENV_FILE)
    if explicit:
        return explicit
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "arty", "credentials.json")


def load() -> dict[str, Any]:
    """The credentials file's content (``{"keys": {}, "default": None}`` when there is none)."""
    path = credentials_path()
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {"keys": {}, "default": None}
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read credentials file '{path}': {exc}",
                         hint="fix it, or remove it and run 'art login URL' again") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys", {}), dict):
        raise StoreError(f"credentials file '{path}' is not an object with 'keys'",
                         hint="remove it and run 'art login URL' again")
    data.setdefault("keys", {})
    data.setdefault("default", None)
    return data


def save(data: dict[str, Any]) -> str:
    """Write the credentials file atomically with mode 0600; returns its path."""
    path = credentials_path()
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, mode=0o700, exist_ok=True)
    replace_file(path, json.dumps(data, indent=2, sort_keys=True), mode=0o600)
    return path


def key_for(url: str) -> str | None:
    """The API key for server ``url``: ``ARTY_API_KEY``, else the one ``art login`` saved."""
    env = os.environ.get(ENV_KEY)
    if env:
        return env.strip()
    try:
        return load()["keys"].get(normalise_url(url))
    except (StoreError, UsageError):
        return None


def default_store() -> str | None:
    """The server URL ``art login`` made the default store, if any."""
    try:
        value = load().get("default")
    except StoreError:
        return None
    return value if isinstance(value, str) and value else None


def remember(url: str, key: str, make_default: bool) -> str:
    """Save ``key`` for ``url`` (and make ``url`` the default store); returns the file's path."""
    data = load()
    data["keys"][normalise_url(url)] = key
    if make_default:
        data["default"] = normalise_url(url)
    return save(data)


def forget(url: str | None) -> list[str]:
    """Remove the key of ``url`` (every key when None); returns the URLs forgotten."""
    data = load()
    urls = list(data["keys"]) if url is None else [normalise_url(url)]
    gone = [u for u in urls if data["keys"].pop(u, None) is not None]
    if data.get("default") in urls:
        data["default"] = None
    save(data)
    return gone


def check_key(url: str, key: str) -> str:
    """Ask the server at ``url`` who ``key`` belongs to; returns the user's name.

    ``GET /api/whoami`` where the server has it (the name is then known); else the store
    protocol's ``POST /flush``, which needs write access (the name is then ``"?"``). Raises
    :class:`StorePermissionDenied` for a key the server does not know (401) and
    :class:`arty.errors.StoreError` when it cannot be asked. A key that may only read (403)
    is accepted.
    """
    import requests

    from arty.store.http import HttpBackend  # noqa: PLC0415 - requests only when logging in

    backend = HttpBackend(url, key=key)

    try:
        resp = backend.session.get(f"{backend.url}/api/whoami", timeout=backend.timeouts)
    except requests.RequestException:
        resp = None
    if resp is not None and resp.status_code == 401:
        raise StorePermissionDenied(f"the server at '{backend.url}' refused the key: "
                                    f"{_error_of(resp)}", hint="check the key, or ask an admin for a new one",
                                    url=backend.url)
    if resp is not None and resp.status_code == 200:
        try:
            body = resp.json()
            return str(body.get("name") or body.get("user") or "?")
        except ValueError:
            pass
    # No whoami: a durability barrier through the store protocol, harmless and needing write
    # access: 401 is a key the server does not know; 403 a known key that may only read.
    try:
        resp = backend.session.post(f"{backend.base}/flush", timeout=backend.timeouts)
    except requests.RequestException:
        backend.flush()  # with its retries, then reported as unreachable the way every command does
        return "?"
    if resp.status_code == 401:
        raise StorePermissionDenied(f"the server at '{backend.url}' refused the key: {_error_of(resp)}",
                                    hint="check the key, or ask an admin for a new one", url=backend.url)
    if resp.status_code != 403:
        backend._check(resp, "check the key at", "store.json")
    return "?"


def _error_of(resp: object) -> str:
    try:
        return str(resp.json().get("error"))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        return f"HTTP {getattr(resp, 'status_code', '?')}"
