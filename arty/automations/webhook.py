"""The webhook action: POST an event as JSON, signed, to an http(s) URL (docs/automations.md).

Signing (as Stripe and GitHub do it): ``X-Arty-Signature: t=<unix seconds>,v1=<hex>`` where
``hex`` is HMAC-SHA256, keyed with the automation's secret, over ``f"{t}." + body`` (the exact
bytes sent). ``X-Arty-Event-Id`` carries the event's id (the same on every delivery of one event,
so a receiver can drop duplicates), ``X-Arty-Event`` its type, ``X-Arty-Delivery`` the attempt.

What a target may do is bounded: only ``http``/``https``; a redirect is followed only to the
same scheme, host and port (at most :data:`MAX_REDIRECTS`), never to another host; the whole
exchange must end within the timeout (``ARTY_WEBHOOK_TIMEOUT``, default 10 s, also while a slow
receiver trickles its answer); at most :data:`MAX_RESPONSE` bytes of the answer are read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

from arty.errors import UsageError

#: Bytes of a receiver's answer read at most (the rest is never downloaded).
MAX_RESPONSE = 64 * 1024
#: Redirects followed (same host only).
MAX_REDIRECTS = 3
TIMEOUT_ENV = "ARTY_WEBHOOK_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
#: What an attempt keeps of the answer's text, for the delivery log.
EXCERPT = 200


def check_url(url: str) -> str:
    """``url`` if it is an ``http://`` or ``https://`` URL with a host; :class:`UsageError` otherwise
    (``file://``, ``ftp://``, no host, credentials in it)."""
    try:
        parts = urlsplit(str(url).strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https"):
        scheme = parts.scheme if parts is not None and parts.scheme else "none"
        raise UsageError(f"webhook URL '{url}' is not http(s) (scheme: {scheme})",
                         hint="a webhook is an http:// or https:// URL, e.g. https://ci.example.com/hook")
    if not parts.hostname:
        raise UsageError(f"webhook URL '{url}' has no host", hint="e.g. https://ci.example.com/hook")
    if parts.username or parts.password:
        raise UsageError(f"webhook URL '{parts.scheme}://…@{parts.hostname}' holds credentials",
                         hint="receivers verify the signature instead (see docs/automations.md)")
    return str(url).strip()


def timeout() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


def body_of(event: dict[str, Any]) -> bytes:
    """The bytes POSTed: the event as compact JSON with sorted keys."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Arty-Signature`` value: ``t=<timestamp>,v1=<HMAC-SHA256 hex of "t." + body>``."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, tolerance: float = 300.0, now: float | None = None) -> bool:
    """What a receiver does (also in docs/automations.md): the signature matches and is recent."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        t = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    return p.scheme, (p.hostname or "").lower(), p.port or (443 if p.scheme == "https" else 80)


def post(url: str, event: dict[str, Any], secret: str, attempt: int = 1, limit: float | None = None
         ) -> dict[str, Any]:
    """POST ``event`` to ``url``; never raises for what the target does.

    Returns the attempt's record: ``status`` (the HTTP status, None when there was none),
    ``ok`` (a 2xx), ``error`` (why it failed, or None), ``duration_ms``, ``response_bytes`` read
    and ``response`` (the first characters of the answer), ``truncated`` (the answer was longer
    than :data:`MAX_RESPONSE` and was not read further).
    """
    import requests

    limit = timeout() if limit is None else limit
    body = body_of(event)
    headers = {"Content-Type": "application/json", "User-Agent": "arty-webhook/1",
               "X-Arty-Event-Id": str(event.get("id")), "X-Arty-Event": str(event.get("type")),
               "X-Arty-Delivery": str(attempt), "X-Arty-Signature": sign(secret, body)}
    start = time.monotonic()
    deadline = start + limit
    out: dict[str, Any] = {"url": url, "status": None, "ok": False, "error": None, "response_bytes": 0,
                           "response": None, "truncated": False}
    target = url
    try:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(target)
            left = deadline - time.monotonic()
            if left <= 0:
                raise requests.Timeout("no answer in time")
            with requests.post(target, data=body, headers=headers, timeout=(min(left, limit), min(left, limit)),
                               allow_redirects=False, stream=True) as resp:
                if resp.is_redirect and resp.headers.get("Location"):
                    nxt = urljoin(target, resp.headers["Location"])
                    if _origin(nxt) != _origin(target):
                        out.update(status=resp.status_code,
                                   error=f"redirect to another host refused ({urlsplit(nxt).hostname})")
                        return _done(out, start)
                    target = nxt
                    continue
                out["status"] = resp.status_code
                data = bytearray()
                for chunk in resp.iter_content(8192):
                    data.extend(chunk)
                    if len(data) > MAX_RESPONSE:
                        out["truncated"] = True
                        del data[MAX_RESPONSE:]
                        break
                    if time.monotonic() > deadline:
                        raise requests.Timeout("the answer took too long")
                out["response_bytes"] = len(data)
                out["response"] = bytes(data[:EXCERPT]).decode("utf-8", "replace")
                out["ok"] = 200 <= resp.status_code < 300
                if not out["ok"]:
                    out["error"] = f"the receiver answered {resp.status_code}"
                return _done(out, start)
        out["error"] = f"more than {MAX_REDIRECTS} redirects"
    except UsageError as exc:
        out["error"] = f"redirect refused: {exc.message}"
    except requests.Timeout:
        out["error"] = f"timed out after {limit:g} s"
        out["ok"] = False
    except requests.RequestException as exc:
        out["error"] = f"cannot reach the receiver: {type(exc).__name__}"
    return _done(out, start)


def _done(out: dict[str, Any], start: float) -> dict[str, Any]:
    out["duration_ms"] = int((time.monotonic() - start) * 1000)
    return out
