"""Agent passwords and console sessions.

Passwords are stored as scrypt hashes (`scrypt$n$r$p$salt$hash`, checked in constant time); a login
returns a random session token whose SHA-256 alone is stored, with an expiry, so a copy of the
database lets nobody in.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Optional, Tuple

from handoff.store import HandoffStore

SESSION_SECONDS = 8 * 3600  # one shift
_N, _R, _P = 2 ** 14, 8, 1


def hash_password(password: str) -> str:
    if len(password or "") < 8:
        raise ValueError("a password needs at least 8 characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(["scrypt", str(_N), str(_R), str(_P), base64.b64encode(salt).decode(),
                     base64.b64encode(digest).decode()])


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))  # checked for unknown agents: same work as a known one


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt((password or "").encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(store: HandoffStore, agent_id: str, password: str,
          seconds: float = SESSION_SECONDS) -> Optional[Tuple[str, float]]:
    """(token, expires_at) for the right password, else None (same answer for an unknown agent)."""
    row = store.agent_row(agent_id)
    stored = row["password_hash"] if row else _DUMMY_HASH  # same work either way
    if not check_password(password, str(stored)) or row is None:
        return None
    token = secrets.token_urlsafe(32)
    expires = store.clock() + seconds
    store.add_session(token_hash(token), agent_id, expires)
    return token, expires


def session_agent(store: HandoffStore, token: Optional[str]) -> Optional[str]:
    return store.session_agent(token_hash(token)) if token else None


def logout(store: HandoffStore, token: str) -> None:
    store.end_session(token_hash(token))
