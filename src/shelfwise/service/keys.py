"""API keys: created once, stored only as a salted scrypt hash, checked in constant time.

A key reads ``sw_<key id>_<secret>``. The key id is public (it finds the row); the secret is 32
random bytes that only the person who created the key ever sees. The store keeps the salt and the
scrypt hash of the secret, so a copy of the store does not give working keys. Scopes: ``read``
(recommendations, items, reports) and ``write`` (events, retraining; a write key can also read).

Checking a key costs one scrypt (tens of milliseconds, by design); the API keeps a short-lived
in-memory cache of keys it has already verified (see :class:`KeyCache`) so that a request costs a
dictionary lookup, and revocation still takes effect within the cache's lifetime.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..data.store import Store
from ..errors import InputError, UnknownIdError

TABLE = "api_keys"
SCOPES = ("read", "write")
PREFIX = "sw"
_DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    key_id VARCHAR, name VARCHAR, scope VARCHAR, salt VARCHAR, hash VARCHAR,
    created_at TIMESTAMP, revoked_at TIMESTAMP)"""
# scrypt cost: 2**14 x 8 x 1 is the interactive-login setting of the scrypt paper (16 MiB, ~50 ms)
_N, _R, _P = 2 ** 14, 8, 1
MAX_NAME = 200  # a label, not a document: longer names are cut in every listing anyway


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    name: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        """A write key may also read; a read key may only read."""
        return self.revoked_at is None and (self.scope == "write" or scope == "read")

    def as_dict(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "name": self.name, "scope": self.scope,
                "created_at": self.created_at, "revoked_at": self.revoked_at}


def _hash(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32).hex()


def ensure_table(store: Store) -> None:
    store.execute(_DDL)


def create_key(store: Store, scope: str, name: str = "") -> tuple[KeyInfo, str]:
    """A new key of ``scope``; returns its info and the key itself (shown once, never stored)."""
    if scope not in SCOPES:
        raise InputError(f"scope must be one of {', '.join(SCOPES)}, not '{scope}'", field="scope")
    _check_name(name)
    ensure_table(store)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    store.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                  [key_id, name, scope, salt.hex(), _hash(secret, salt), now, None])
    return KeyInfo(key_id, name, scope, now), f"{PREFIX}_{key_id}_{secret}"


def _check_name(name: str) -> None:
    """A key's label is one line of printable text (a newline or tab would break ``keys list``)."""
    if len(name) > MAX_NAME:
        raise InputError(f"a key name may have at most {MAX_NAME} characters, not {len(name):,}", field="name")
    bad = [c for c in name if ord(c) < 32 or ord(c) == 127]
    if bad:
        raise InputError(f"a key name must be one line of printable text; {name!r} holds the control character "
                         f"{bad[0]!r}", field="name")


def key_id_of(text: str) -> str:
    """The key id named by ``text``: the id itself, ``sw_<id>``, or a whole key ``sw_<id>_<secret>``."""
    text = text.strip()
    parts = text.split("_", 2)
    if len(parts) >= 2 and parts[0] == PREFIX and parts[1]:
        return parts[1]
    return text


def _split(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2] or len(key) > 200:
        return None
    return parts[1], parts[2]


def _row(store: Store, key_id: str) -> dict[str, Any] | None:
    if not store.has_table(TABLE):
        return None
    rows = store.query(f"SELECT * FROM {TABLE} WHERE key_id = ?", [key_id]).to_pylist()
    return rows[0] if rows else None


def verify(store: Store, key: str) -> KeyInfo | None:
    """The key's info when ``key`` is a valid, unrevoked key of this store; else None."""
    split = _split(key)
    if split is None:
        return None
    key_id, secret = split
    row = _row(store, key_id)
    if row is None:
        # spend the same work as a real check, so timing does not tell which key ids exist
        _hash(secret, b"\0" * 16)
        return None
    ok = hmac.compare_digest(_hash(secret, bytes.fromhex(row["salt"])), row["hash"])
    if not ok or row["revoked_at"] is not None:
        return None
    return KeyInfo(row["key_id"], row["name"] or "", row["scope"], row["created_at"], row["revoked_at"])


def list_keys(store: Store) -> list[KeyInfo]:
    if not store.has_table(TABLE):
        return []
    rows = store.query(f"SELECT key_id, name, scope, created_at, revoked_at FROM {TABLE} ORDER BY created_at").to_pylist()
    return [KeyInfo(r["key_id"], r["name"] or "", r["scope"], r["created_at"], r["revoked_at"]) for r in rows]


@dataclass(frozen=True)
class Revoked:
    """What a revocation did: the key as it is now, and whether it had been revoked before (then nothing
    changed, so that a caller can say so without listing every key first)."""

    info: KeyInfo
    already: bool


def revoke(store: Store, key_id: str) -> Revoked:
    """Revoke the key ``key_id`` (or the key named by ``sw_<id>`` or the whole key); revoking a revoked key
    changes nothing, so its revocation time stays the first one."""
    key_id = key_id_of(key_id)
    row = _row(store, key_id) if key_id else None
    if row is None:
        raise UnknownIdError(f"no API key with id '{key_id}' in {store.url} (list them with: shelfwise keys list)")
    if row["revoked_at"] is not None:
        return Revoked(KeyInfo(row["key_id"], row["name"] or "", row["scope"], row["created_at"], row["revoked_at"]),
                       already=True)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    store.execute(f"UPDATE {TABLE} SET revoked_at = ? WHERE key_id = ?", [now, key_id])
    return Revoked(KeyInfo(row["key_id"], row["name"] or "", row["scope"], row["created_at"], now), already=False)


class KeyCache:
    """Keys verified recently, by a keyed digest of the key (the key itself is never kept in memory).

    ``ttl`` bounds how long a revoked key keeps working in a running service; failed keys are cached
    briefly too, so a client hammering with a wrong key does not cost a scrypt per request.
    """

    def __init__(self, store: Store, ttl: float = 60.0, negative_ttl: float = 5.0, max_entries: int = 10_000) -> None:
        self.store = store
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self._pepper = secrets.token_bytes(32)
        self._entries: dict[bytes, tuple[float, KeyInfo | None]] = {}
        self._flights: dict[bytes, threading.Lock] = {}
        self._lock = threading.Lock()

    def peek(self, key: str) -> tuple[bool, KeyInfo | None]:
        """(found, info) from the cache alone: no scrypt, no store access (for the event loop)."""
        hit = self._entries.get(hmac.new(self._pepper, key.encode(), hashlib.sha256).digest())
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def lookup(self, key: str) -> KeyInfo | None:
        digest = hmac.new(self._pepper, key.encode(), hashlib.sha256).digest()
        hit = self._entries.get(digest)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        # single flight: many requests with the same new key wait for ONE scrypt, not one each
        with self._lock:
            flight = self._flights.setdefault(digest, threading.Lock())
        with flight:
            hit = self._entries.get(digest)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
            info = verify(self.store, key)
            self._remember(digest, info)
        with self._lock:
            self._flights.pop(digest, None)
        return info

    def _remember(self, digest: bytes, info: KeyInfo | None) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[digest] = (now + (self.ttl if info else self.negative_ttl), info)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# --- by store URL, for the CLI -------------------------------------------------------------------------

def create(db: str | None, scope: str, name: str = "") -> tuple[KeyInfo, str]:
    from ..data.store import open_store

    with open_store(db) as store:
        return create_key(store, scope, name)


def list_all(db: str | None) -> list[KeyInfo]:
    from ..data.store import open_store

    with open_store(db) as store:
        return list_keys(store)


def revoke_id(db: str | None, key_id: str) -> Revoked:
    from ..data.store import open_store

    with open_store(db) as store:
        return revoke(store, key_id)
