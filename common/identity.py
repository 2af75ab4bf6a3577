"""Customer identity tokens: how a channel vouches for who the customer is.

The shop's site, app or WeChat bridge — which already knows the signed-in customer — issues a token
`<payload>.<signature>` (payload = base64url JSON {"sub": customer id, "exp": unix time}; signature =
HMAC-SHA256 of the payload with CS_IDENTITY_SECRET) and passes it with every message in the
message metadata as `customer_token` (web widget: `customData`). The action server trusts a customer
id only when the signature checks and the token has not expired; anything sent by the customer
themself (a slot, an entity, an unsigned id) is never taken as identity.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, Mapping, Optional

TOKEN_KEY = "customer_token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def issue_token(secret: str, customer_id: str, ttl: float = 3600.0, now: Optional[float] = None) -> str:
    if not secret:
        raise ValueError("an identity secret is needed to issue tokens")
    payload = _b64(json.dumps({"sub": customer_id, "exp": int((now or time.time()) + ttl)}).encode())
    return f"{payload}.{_signature(secret, payload)}"


def verify_token(secret: str, token: Any, now: Optional[float] = None) -> Optional[str]:
    """The customer id the token vouches for, or None (no secret, malformed, forged or expired)."""
    if not secret or not isinstance(token, str) or token.count(".") != 1:
        return None
    payload, signature = token.split(".")
    # bytes: compare_digest refuses str with non-ASCII characters (TypeError on a junk token)
    if not hmac.compare_digest(signature.encode(), _signature(secret, payload).encode()):
        return None
    try:
        claims = json.loads(_unb64(payload))
    except ValueError:
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str) or not claims["sub"]:
        return None
    if not isinstance(claims.get("exp"), int) or claims["exp"] < (now or time.time()):
        return None
    return claims["sub"]


def token_from_metadata(metadata: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The token a channel put in a message's metadata (directly, or in the web widget's customData)."""
    if not isinstance(metadata, Mapping):
        return None
    token = metadata.get(TOKEN_KEY)
    custom = metadata.get("customData")
    if token is None and isinstance(custom, Mapping):
        token = custom.get(TOKEN_KEY)
    return token if isinstance(token, str) else None
