"""Signed HTTP requests between the shop's back ends and our channels (app messages and callbacks,
identity links): `X-CS-Timestamp: <unix seconds>` and `X-CS-Signature: v1=<hex HMAC-SHA256(secret,
timestamp + "." + raw body)>`, refused when the signature is wrong or the timestamp is more than
MAX_SKEW seconds off."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Mapping, Optional

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


class Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def signed_json(secret: str, headers: Mapping[str, str], body: bytes, max_body: int) -> Any:
    """The JSON body of a signed request; `Refusal` (413 size, 401 signature, 400 not JSON) if not."""
    if len(body) > max_body:
        raise Refusal(413, f"body over {max_body} bytes")
    if not signature_ok(secret, headers.get(TIMESTAMP_HEADER), body, headers.get(SIGNATURE_HEADER)):
        raise Refusal(401, f"missing, wrong or stale signature ({TIMESTAMP_HEADER}, {SIGNATURE_HEADER})")
    try:
        return json.loads(body)
    except ValueError:
        raise Refusal(400, "body is not JSON") from None
