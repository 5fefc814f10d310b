"""Users, API keys, project roles and protected aliases, kept in the store under ``auth/``.

Everything is a record created if absent, or a log of them (see docs/store-format.md,
"auth/"); nothing is overwritten, so two servers on one store see the same accounts::

    auth/secret.json                          the server secret (session cookies, CSRF tokens)
    auth/users/<user>/<seq>.json              a log: {"user", "admin", "disabled", "by", "at"}
    auth/keys/<key_id>.json                   {"key_id", "user", "hash", "created_at", "created_by", "label"}
    auth/revoked/<key_id>.json                {"key_id", "at", "by"}: the key no longer works
    auth/grants/<project>/<user>/<seq>.json   a log: {"role": "read"|"write"|"admin"|null, "by", "at"}
    auth/protected/<project>/<artifact>/<alias>/<seq>.json   a log: {"protected", "approvals", "by", "at"}

A key is ``arty_<key_id>_<secret>``: ``key_id`` is 16 hex digits, the secret
``secrets.token_urlsafe(32)`` (256 bits). Only ``sha256(secret)`` is stored, and it is
compared in constant time. The key is returned once, by :meth:`Accounts.create_key`.

This module needs no web framework: ``art server users ...`` uses it on the store directly,
and the server (:mod:`arty.server.access`) through one :class:`Accounts` per app, whose
answers about keys, users and grants are cached for :attr:`Accounts.ttl` seconds (a
revocation takes effect on every server within that time).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from arty.artifacts import approvals as _approvals
from arty.artifacts.names import check_alias, check_name
from arty.errors import ConflictError, InvalidName, NotFound, UsageError
from arty.store import Store, now_iso

AUTH = "auth"
SECRET = f"{AUTH}/secret.json"
USERS = f"{AUTH}/users"
KEYS = f"{AUTH}/keys"
REVOKED = f"{AUTH}/revoked"
GRANTS = f"{AUTH}/grants"
PROTECTED = _approvals.PROTECTED

#: The roles, weakest first; each includes the ones before it.
ROLES = ("read", "write", "admin")
#: Names a user cannot have: the principals of the legacy token and of an open server.
RESERVED_NAMES = ("token", "anonymous")
#: How long a server trusts what it read about keys, users and grants (seconds).
DEFAULT_TTL = 3.0
KEY_PREFIX = "arty_"
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_USER = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

T = TypeVar("T")


def check_user(name: str) -> str:
    """``name`` if it can name a user: 1-64 of lowercase letters, digits, ``.``, ``_``, ``-``,
    starting with a letter or digit, and not a reserved name; else :class:`InvalidName`."""
    if not isinstance(name, str) or not _USER.match(name) or name in RESERVED_NAMES:
        raise InvalidName(f"invalid user name {str(name)[:80]!r}",
                          hint="1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit; "
                               f"not {' or '.join(RESERVED_NAMES)}")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"invalid role {str(role)[:40]!r}", hint="use one of: " + ", ".join(ROLES))
    return role


def check_key_id(key_id: str) -> str:
    if not isinstance(key_id, str) or not _KEY_ID.match(key_id):
        raise UsageError(f"invalid key id {str(key_id)[:40]!r}", hint="16 hex digits, as 'art server keys list' shows")
    return key_id


def hash_secret(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a key ``arty_<key_id>_<secret>``; None for anything else."""
    if not key.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = key[len(KEY_PREFIX):].partition("_")
    if not sep or not secret or not _KEY_ID.match(key_id):
        return None
    return key_id, secret


@dataclass(frozen=True)
class User:
    name: str
    admin: bool = False
    disabled: bool = False


@dataclass(frozen=True)
class KeyInfo:
    """An API key as listed: never its secret."""

    key_id: str
    user: str
    label: str | None
    created_at: str | None
    created_by: str | None
    revoked_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.key_id, "user": self.user, "label": self.label, "created_at": self.created_at,
                "created_by": self.created_by, "revoked": self.revoked_at is not None,
                "revoked_at": self.revoked_at}


class Accounts:
    """The accounts of one store. Changes go straight to the store; lookups the server makes
    on every request (:meth:`check_key`, :meth:`user`, :meth:`role`, :meth:`has_users`,
    :meth:`is_protected`) are cached for ``ttl`` seconds (0: not cached)."""

    def __init__(self, store: Store, ttl: float = DEFAULT_TTL) -> None:
        self.store = store
        self.ttl = ttl
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    # -- the cache -------------------------------------------------------------------------

    def _cached(self, key: tuple[Any, ...], load: Callable[[], T], fresh: bool = False) -> T:
        if self.ttl > 0 and not fresh:
            now = time.monotonic()
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]  # type: ignore[no-any-return]
        value = load()
        if self.ttl > 0:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key] = (time.monotonic() + self.ttl, value)
        return value

    def forget(self) -> None:
        """Drop every cached answer (after a change made through this object)."""
        with self._lock:
            self._cache.clear()

    # -- the server secret -----------------------------------------------------------------

    def secret(self) -> bytes:
        """The store's server secret (created on first use, then shared by every server)."""
        def load() -> bytes:
            rec = self.store.try_record(SECRET)
            if rec is None or not isinstance(rec.get("secret"), str) or len(rec["secret"]) < 32:
                self.store.create_record(SECRET, {"secret": secrets.token_urlsafe(48), "created_at": now_iso()})
                rec = self.store.read_record(SECRET)
                if not isinstance(rec.get("secret"), str) or len(rec["secret"]) < 32:
                    raise ConflictError(f"record '{SECRET}' holds no usable secret",
                                        hint="move it aside ('art verify --repair' does not); a new one is made")
            return str(rec["secret"]).encode()
        return self._cached(("secret",), load)

    # -- users -----------------------------------------------------------------------------

    def has_users(self) -> bool:
        """Whether any user exists (then every request needs a key)."""
        return self._cached(("has_users",), lambda: bool(self.store.list(USERS)))

    def user(self, name: str) -> User | None:
        """The user ``name`` as its latest record says; None if there is none."""
        def load() -> User | None:
            got = self.store.log_latest(f"{USERS}/{name}")
            if got is None:
                return None
            rec = got[1]
            return User(name, admin=rec.get("admin") is True, disabled=rec.get("disabled") is not False)
        return self._cached(("user", name), load)

    def users(self) -> list[User]:
        out = []
        for name in self.store.list(USERS):
            if _USER.match(name):
                got = self.store.log_latest(f"{USERS}/{name}")
                if got is not None:
                    out.append(User(name, admin=got[1].get("admin") is True,
                                    disabled=got[1].get("disabled") is not False))
        return out

    def _set_user(self, name: str, admin: bool, disabled: bool, by: str) -> User:
        self.store.log_append(f"{USERS}/{name}", lambda s: {"user": name, "admin": admin, "disabled": disabled,
                                                            "by": by, "at": now_iso(), "seq": s})
        self.forget()
        return User(name, admin, disabled)

    def add_user(self, name: str, admin: bool = False, by: str = "cli", label: str | None = "first key"
                 ) -> tuple[User, str]:
        """Create user ``name`` and its first key; returns ``(user, key)`` (the key, once).

        A user that exists is a :class:`ConflictError`.
        """
        check_user(name)
        if self.store.log_seqs(f"{USERS}/{name}"):
            raise ConflictError(f"user '{name}' already exists",
                                hint=f"'art server keys create {name}' makes another key for it")
        user = self._set_user(name, admin, False, by)
        key, _ = self.create_key(name, label=label, by=by)
        return user, key

    def set_admin(self, name: str, admin: bool, by: str = "cli") -> User:
        u = self._existing(name)
        return self._set_user(name, admin, u.disabled, by)

    def disable_user(self, name: str, by: str = "cli", disabled: bool = True) -> User:
        """Disable (or enable again) user ``name``: none of its keys or sessions work meanwhile."""
        u = self._existing(name)
        return self._set_user(name, u.admin, disabled, by)

    def _existing(self, name: str) -> User:
        check_user(name)
        self.forget()
        u = self.user(name)
        if u is None:
            raise NotFound(f"user '{name}' not found", hint="'art server users list' lists the users")
        return u

    # -- keys ------------------------------------------------------------------------------

    def create_key(self, user: str, label: str | None = None, by: str = "cli") -> tuple[str, KeyInfo]:
        """A new key for ``user``: ``(key, info)``. The key is not stored and cannot be shown again."""
        self._existing(user)
        if label is not None and (len(label) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in label)):
            raise UsageError("invalid key label", hint="at most 200 characters, no control characters")
        for _ in range(5):
            key_id = secrets.token_hex(8)
            secret = secrets.token_urlsafe(32)
            rec = {"key_id": key_id, "user": user, "hash": hash_secret(secret), "created_at": now_iso(),
                   "created_by": by, "label": label}
            if self.store.create_record(f"{KEYS}/{key_id}.json", rec):
                return f"{KEY_PREFIX}{key_id}_{secret}", KeyInfo(key_id, user, label, rec["created_at"], by)
        raise ConflictError("could not pick a new key id", hint="retry")

    def _key_record(self, key_id: str) -> dict[str, Any] | None:
        rec = self.store.try_record(f"{KEYS}/{key_id}.json")
        if rec is None or not isinstance(rec.get("user"), str) or not isinstance(rec.get("hash"), str):
            return None
        return rec

    def _revocation(self, key_id: str) -> dict[str, Any] | None:
        try:
            return self.store.read_record(f"{REVOKED}/{key_id}.json")
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - a damaged revocation still revokes
            return {"at": None}

    def keys(self, user: str | None = None) -> list[KeyInfo]:
        """Every key (of ``user``), oldest first, with whether it is revoked; never a secret."""
        if user is not None:
            check_user(user)
        out = []
        for name in self.store.list(KEYS):
            key_id = name[:-5] if name.endswith(".json") else ""
            if not _KEY_ID.match(key_id):
                continue
            rec = self._key_record(key_id)
            if rec is None or (user is not None and rec["user"] != user):
                continue
            revoked = self._revocation(key_id)
            out.append(KeyInfo(key_id, rec["user"], rec.get("label"), rec.get("created_at"), rec.get("created_by"),
                               None if revoked is None else str(revoked.get("at") or "unknown")))
        return sorted(out, key=lambda k: (k.created_at or "", k.key_id))

    def key_info(self, key_id: str) -> KeyInfo:
        check_key_id(key_id)
        rec = self._key_record(key_id)
        if rec is None:
            raise NotFound(f"key '{key_id}' not found", hint="'art server keys list' lists the keys")
        revoked = self._revocation(key_id)
        return KeyInfo(key_id, rec["user"], rec.get("label"), rec.get("created_at"), rec.get("created_by"),
                       None if revoked is None else str(revoked.get("at") or "unknown"))

    def revoke_key(self, key_id: str, by: str = "cli") -> bool:
        """Revoke a key (a record ``auth/revoked/<key_id>.json``); False if it already was."""
        self.key_info(key_id)
        created = self.store.create_record(f"{REVOKED}/{key_id}.json", {"key_id": key_id, "at": now_iso(), "by": by})
        self.forget()
        return created

    def check_key(self, key: str) -> User | None:
        """The user whose key ``key`` is, if the key exists, is not revoked, and its user exists
        and is not disabled; else None. The secret is compared in constant time."""
        parts = split_key(key)
        if parts is None:
            return None
        key_id, secret = parts
        rec = self._cached(("key", key_id), lambda: self._key_record(key_id))
        if rec is None or not hmac.compare_digest(rec["hash"].encode(), hash_secret(secret).encode()):
            return None
        return self.key_user(key_id)

    def key_user(self, key_id: str) -> User | None:
        """The active user of key ``key_id`` (not revoked, user not disabled), else None."""
        if not _KEY_ID.match(key_id):
            return None
        rec = self._cached(("key", key_id), lambda: self._key_record(key_id))
        if rec is None or self._cached(("revoked", key_id), lambda: self._revocation(key_id) is not None):
            return None
        user = self.user(rec["user"])
        return None if user is None or user.disabled else user

    # -- grants ----------------------------------------------------------------------------

    def grant(self, user: str, project: str, role: str | None, by: str = "cli") -> None:
        """Give ``user`` ``role`` on ``project`` (None: no role any more)."""
        self._existing(user)
        check_name(project, "project")
        if role is not None:
            check_role(role)
        self.store.log_append(f"{GRANTS}/{project}/{user}",
                              lambda s: {"user": user, "project": project, "role": role, "by": by, "at": now_iso(),
                                         "seq": s})
        self.forget()

    def role(self, user: str, project: str) -> str | None:
        """The role ``user`` holds on ``project`` (its latest grant's), or None."""
        def load() -> str | None:
            got = self.store.log_latest(f"{GRANTS}/{project}/{user}")
            role = None if got is None else got[1].get("role")
            return role if role in ROLES else None
        return self._cached(("role", user, project), load)

    def roles(self, user: str) -> dict[str, str]:
        """``{project: role}`` of every project where ``user`` holds a role."""
        def load() -> dict[str, str]:
            out = {}
            for project in self.store.list(GRANTS):
                if self.store.exists(f"{GRANTS}/{project}/{user}"):
                    role = self.role(user, project)
                    if role is not None:
                        out[project] = role
            return out
        return self._cached(("roles", user), load)

    def members(self, project: str) -> dict[str, str]:
        """``{user: role}`` of ``project``."""
        check_name(project, "project")
        out = {}
        for user in self.store.list(f"{GRANTS}/{project}"):
            got = self.store.log_latest(f"{GRANTS}/{project}/{user}")
            if got is not None and got[1].get("role") in ROLES:
                out[user] = got[1]["role"]
        return out

    # -- protected aliases -----------------------------------------------------------------

    def protect(self, project: str, artifact: str, alias: str, protected: bool = True, by: str = "cli",
                approvals: int = 0) -> None:
        """Mark an alias protected (only project admins move or remove it), or no longer. With
        ``approvals`` (0 or 1), an admin's move waits for the approval of another admin
        (:mod:`arty.artifacts.approvals`)."""
        check_name(project, "project")
        check_name(artifact)
        check_alias(alias)
        if type(approvals) is not int or approvals not in (0, 1):
            raise UsageError(f"invalid number of approvals {approvals!r}",
                             hint="0 (admins move it) or 1 (a second admin approves each move)")
        self.store.log_append(f"{PROTECTED}/{project}/{artifact}/{alias}",
                              lambda s: {"protected": protected, "approvals": approvals if protected else 0,
                                         "by": by, "at": now_iso(), "seq": s})
        self.forget()

    def _protection(self, project: str, artifact: str, alias: str, fresh: bool = False) -> tuple[bool, int]:
        return self._cached(("protected", project, artifact, alias),
                            lambda: _approvals.protection(self.store, project, artifact, alias), fresh)

    def is_protected(self, project: str, artifact: str, alias: str, fresh: bool = False) -> bool:
        """Whether the alias is protected. ``fresh`` reads the store, not the cache: every
        decision to let a write through asks fresh, so ``art server protect`` run beside a
        running server holds from the next request on (the cache serves only what is shown)."""
        return self._protection(project, artifact, alias, fresh)[0]

    def approvals(self, project: str, artifact: str, alias: str, fresh: bool = False) -> int:
        """How many approvals by other admins a move of the alias needs (0: none, or not
        protected); ``fresh`` as for :meth:`is_protected`."""
        return self._protection(project, artifact, alias, fresh)[1]

    def protected(self, project: str, artifact: str) -> list[str]:
        """The protected aliases of an artifact."""
        return [a for a in self.store.list(f"{PROTECTED}/{project}/{artifact}")
                if self.is_protected(project, artifact, a)]
