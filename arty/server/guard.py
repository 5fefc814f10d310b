"""What the server refuses before any route runs: foreign ``Host`` headers (DNS rebinding),
cross-origin writes, and pages without a strict Content-Security-Policy.

**Host.** A page on another site can point a name it controls at ``127.0.0.1`` (DNS
rebinding) and then talk to a server on this machine as if it were its own origin. The
browser still sends that name in ``Host``, so the server answers only the names it is
meant to have (:class:`HostPolicy`): the address it listens on, ``localhost``,
``127.0.0.1`` and ``[::1]`` when that address is a loopback one, any IP address when it
listens on every interface (``0.0.0.0``, ``::``; an address in ``Host`` cannot be a
rebound name), and every name configured with ``--allowed-host``. Anything else is 400.

**Origin.** A change (any method but GET, HEAD, OPTIONS) whose ``Origin`` is not the
server's own (another host name or port than ``Host``; ``null``), or that the browser marks
``Sec-Fetch-Site: cross-site``, is 403: another site's page cannot edit runs or move
aliases, token or not. Clients that send no ``Origin`` (scripts, curl) are not affected.

**Headers.** Every response gets ``X-Content-Type-Options: nosniff``, ``X-Frame-Options:
DENY``, ``Referrer-Policy: no-referrer`` and :data:`CSP` (the UI loads only its own
scripts and styles) unless it set a policy of its own (downloads are sandboxed, see
:mod:`arty.server.files`); the interactive API docs at ``/docs``, which load Swagger UI
from its CDN, get only the framing and base restrictions.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arty.errors import UsageError
from arty.server.errors import error_response

#: The names of this machine's loopback interface.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: Listening addresses meaning "every interface".
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")
#: The policy of every page and response but the API docs: scripts only from the server's own
#: files (no inline script, no eval), no plugins, no <base>, no framing. Styles may be inline
#: because plotly.js writes its own (a <style> element and style attributes), and images may
#: be data:/blob: URLs because plotly draws heatmaps as such images.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
#: The policy of the API docs (Swagger UI comes from a CDN with an inline script).
DOCS_CSP = "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def split_host(value: str) -> tuple[str, str] | None:
    """``(host, port)`` of a ``Host`` header value (port ``""`` when absent), the host
    lowercased, without IPv6 brackets or a trailing dot; None when malformed."""
    value = value.strip().lower()
    if not value:
        return None
    if value.startswith("["):  # [v6] or [v6]:port
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1:]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:]
    elif value.count(":") > 1:  # a bare IPv6 address (no port possible)
        host, port = value, ""
    else:
        host, _, port = value.partition(":")
    if port and not port.isdigit():
        return None
    host = host.rstrip(".") if host != "." else ""
    if not host or any(c in host for c in "/\\@ ?#"):
        return None
    return host, port


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback(address: str) -> bool:
    """Whether listening on ``address`` serves only this machine (``127.x``, ``::1``, ``localhost``)."""
    host = address.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_wildcard(address: str) -> bool:
    """Whether listening on ``address`` means every interface of the machine."""
    return address.strip().strip("[]") in WILDCARD_ADDRESSES


@dataclass(frozen=True)
class HostPolicy:
    """The ``Host`` names a server answers: exact names, ``*.domain`` suffixes, any IP
    address (``ip_addresses``), or anything (``any_host``, from an allowed host ``*``)."""

    names: frozenset[str] = frozenset(LOOPBACK_NAMES)
    suffixes: tuple[str, ...] = ()
    ip_addresses: bool = False
    any_host: bool = False
    shown: tuple[str, ...] = field(default=LOOPBACK_NAMES, compare=False)

    @classmethod
    def for_address(cls, address: str, allowed: Iterable[str] = ()) -> "HostPolicy":
        """The policy of a server listening on ``address`` with the extra ``allowed`` names.

        Raises :class:`arty.errors.UsageError` for an ``allowed`` entry that is not a host name.
        """
        names: list[str] = []
        bound = address.strip().strip("[]").lower().rstrip(".")
        wildcard = is_wildcard(address)
        if wildcard or is_loopback(address):
            names += LOOPBACK_NAMES
        if not wildcard:
            names.append(bound)
        suffixes: list[str] = []
        any_host = False
        for entry in allowed:
            entry = entry.strip()
            if not entry:
                continue
            if entry == "*":
                any_host = True
                continue
            if entry.startswith("*."):
                parsed = split_host(entry[2:])
                if parsed is None or parsed[1]:
                    raise _bad_host(entry)
                suffixes.append("." + parsed[0])
                continue
            parsed = split_host(entry)
            if parsed is None or "*" in parsed[0]:
                raise _bad_host(entry)
            names.append(parsed[0])
        unique = tuple(dict.fromkeys(names))
        shown = unique + tuple("*" + s for s in suffixes) + (("any IP address",) if wildcard else ())
        return cls(frozenset(unique), tuple(suffixes), wildcard, any_host, shown)

    def allows(self, host: str) -> bool:
        """Whether a request whose ``Host`` names ``host`` (as :func:`split_host` gives it) is answered."""
        if self.any_host or host in self.names:
            return True
        if any(host.endswith(s) for s in self.suffixes):
            return True
        return self.ip_addresses and is_ip(host)

    def describe(self) -> str:
        return "any host" if self.any_host else ", ".join(self.shown)


def _bad_host(entry: str) -> UsageError:
    return UsageError(f"invalid allowed host '{entry}'",
                      hint="a host name or address (arty.example.com, 10.0.0.5, [::1]), *.domain for its "
                           "subdomains, or * for any host")


def foreign_origin(origin: str, host_header: str) -> bool:
    """Whether a request from ``origin`` (an ``Origin`` header) comes from another site than the
    one ``host_header`` names: another host name, or another port when both give one. The
    scheme is not compared: behind a TLS proxy the page is https while the server sees http."""
    _, sep, rest = origin.strip().lower().partition("://")
    if not sep or not rest or "/" in rest:
        return True  # "null" (a sandboxed or file: page), or not an origin at all
    o = split_host(rest)
    h = split_host(host_header)
    if o is None or h is None:
        return True
    return o[0] != h[0] or bool(o[1] and h[1] and o[1] != h[1])


class Guard:
    """ASGI middleware: the ``Host`` check, the ``Origin`` check on changes, and the security
    headers on every response (see the module docstring)."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        host_header = headers.get("host", "")
        parsed = split_host(host_header)
        if parsed is None or not self.policy.allows(parsed[0]):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            if not host_header:
                problem = "request without a Host header"
            elif parsed is None:
                problem = f"malformed Host header '{host_header}'"
            else:
                problem = f"host '{parsed[0]}' is not allowed"
            response = error_response(
                400, problem, f"this server answers to {self.policy.describe()}; if this name is meant to reach "
                              "it, start it with --allowed-host NAME (or ARTY_SERVER_ALLOWED_HOSTS)")
            await self._send_guarded(response, scope, receive, send)
            return
        if scope["type"] == "http" and scope["method"] not in _SAFE_METHODS:
            origin = headers.get("origin")
            if (origin is not None and foreign_origin(origin, host_header)) or \
                    (origin is None and headers.get("sec-fetch-site") == "cross-site"):
                response = error_response(
                    403, f"change from another site refused (origin '{origin or 'cross-site'}')",
                    "changes are accepted only from this server's own pages, or from clients that send no Origin")
                await self._send_guarded(response, scope, receive, send)
                return
        await self._send_guarded(self.app, scope, receive, send)

    async def _send_guarded(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        docs = scope.get("path") in DOCS_PATHS

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers") or [])
                present = {k.lower() for k, _ in raw}
                extra = dict(SECURITY_HEADERS)
                extra["content-security-policy"] = DOCS_CSP if docs else CSP
                raw += [(k.encode(), v.encode()) for k, v in extra.items() if k.encode() not in present]
                message = {**message, "headers": raw}
            await send(message)

        await app(scope, receive, with_headers)
