"""Signed HTTP requests between the shop's back ends and our channels (app messages and callbacks,
identity links): `X-CS-Timestamp: <unix seconds>` and `X-CS-Signature: v1=<hex HMAC-SHA256(secret,
timestamp + "." + raw body)>`, refused when the signature is wrong or the timestamp is more than
MAX_SKEW seconds off."""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Optional

MAX_SKEW = 300.0
TIMESTAMP_HEADER = "X-CS-Timestamp"
SIGNATURE_HEADER = "X-CS-Signature"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signed_headers(secret: str, body: bytes, now: Optional[float] = None) -> dict:
    timestamp = str(int(time.time() if now is None else now))
    return {"Content-Type": "application/json; charset=utf-8", TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body)}


def signature_ok(secret: str, timestamp: Optional[str], body: bytes, given: Optional[str],
                 now: Optional[float] = None) -> bool:
    if not secret or not timestamp or not given:
        return False
    try:
        if abs((time.time() if now is None else now) - int(timestamp)) > MAX_SKEW:
            return False
    except ValueError:
        return False
    return hmac.compare_digest(given.encode("ascii", "replace"), sign(secret, timestamp, body).encode())
