"""The web UI's session cookie and its CSRF token.

Logging in (``POST /api/session`` with an API key) sets the cookie :data:`COOKIE`:
``<payload>.<signature>``, the payload naming the user and the key it logged in with (never
the key's secret), signed with HMAC-SHA256 under the store's server secret
(:meth:`arty.server.accounts.Accounts.secret`, shared by every server on the store). Each
request checks the signature, the age (:data:`MAX_AGE`), and that the key is not revoked and
its user not disabled, so revoking a key ends its sessions. The cookie is ``HttpOnly``,
``SameSite=Strict``, ``Path=/``, and ``Secure`` when the request came over https.

The CSRF token of a session is an HMAC of its cookie; the UI gets it from
``/api/session`` or ``/api/whoami`` and sends it in ``X-Arty-CSRF`` with every change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from arty.server.access import Principal

COOKIE = "arty_session"
#: How long a session lasts (seconds): 14 days.
MAX_AGE = 14 * 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _secret(request: Request) -> bytes:
    return bytes(request.app.state.arty.accounts.secret())


def _sign(request: Request, purpose: bytes, data: bytes) -> str:
    return _b64(hmac.new(_secret(request), purpose + b"\0" + data, hashlib.sha256).digest())


def _token_tag(token: str) -> str:
    """What a session of the legacy token holds of it: a hash, so a new token ends old sessions."""
    return hashlib.sha256(b"arty-session\0" + token.encode()).hexdigest()[:32]


def make_cookie(request: Request, principal: Principal) -> str:
    """The cookie value of a new session of ``principal`` (logged in with a key or the token)."""
    payload: dict[str, Any] = {"u": principal.name, "t": int(time.time())}
    if principal.via == "token":
        payload["tok"] = _token_tag(request.app.state.arty.token)
    else:
        payload["k"] = principal.key_id
    data = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{data}.{_sign(request, b'session', data.encode())}"


def principal_of_cookie(request: Request, cookie: str) -> Principal | None:
    """The principal of a session cookie if it is signed, not expired, and its key still
    works (its user active); else None."""
    data, sep, sig = cookie.partition(".")
    if not sep or len(cookie) > 4096:
        return None
    if not hmac.compare_digest(sig.encode("utf-8", "surrogatepass"), _sign(request, b"session", data.encode()).encode()):
        return None
    try:
        payload = json.loads(_unb64(data))
    except (ValueError, TypeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("t"), int):
        return None
    if not 0 <= time.time() - payload["t"] <= MAX_AGE:
        return None
    state = request.app.state.arty
    if "tok" in payload:
        token = state.token
        if not token or not hmac.compare_digest(str(payload["tok"]).encode(), _token_tag(token).encode()):
            return None
        return Principal("token", admin=True, via="session")
    key_id = payload.get("k")
    user = state.accounts.key_user(key_id) if isinstance(key_id, str) else None
    if user is None or user.name != payload.get("u"):
        return None
    return Principal(user.name, admin=user.admin, key_id=None, via="session")


def csrf_token(request: Request, cookie: str) -> str:
    """The CSRF token of the session whose cookie is ``cookie``."""
    return _sign(request, b"csrf", cookie.encode())


def is_https(request: Request) -> bool:
    """Whether the request came over https: its own scheme, or ``X-Forwarded-Proto`` from a
    TLS proxy the server was told to trust (``--trust-proxy``)."""
    if request.url.scheme == "https":
        return True
    if request.app.state.arty.trust_proxy:
        return request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower() == "https"
    return False


def set_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(COOKIE, value, max_age=MAX_AGE, path="/", httponly=True, samesite="strict",
                        secure=is_https(request))


def clear_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=is_https(request))
