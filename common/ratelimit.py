"""Rate limits: token buckets per key (a customer, an IP address), pure and bounded.

A bucket holds up to `burst` tokens and refills at `per_minute` tokens a minute; each request takes
one (`take`), and a request finding the bucket empty is refused with the seconds until a token is
back (the HTTP `Retry-After`). The clock is injected (tests step it), and memory is bounded: at most
`max_keys` buckets are kept, a bucket that has refilled completely is the same as no bucket and is
dropped first, then the least recently used.

Used by the Rasa channels (bot/channels/: per customer and per IP; WeChat per OpenID) and by the
handoff service's login (per IP, failed attempts). Limits: common/settings.py (CS_RATE_*).

Also here: `client_ip`, the address a request comes from when the server sits behind a reverse proxy
it trusts (CS_TRUSTED_PROXIES): the right-most X-Forwarded-For address that is not one of the proxies.
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Collection, Optional, Tuple


@dataclass(frozen=True)
class Limit:
    per_minute: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0 and self.burst > 0


class TokenBuckets:
    """Token buckets by key; thread-safe (the Rasa channels and aiohttp handlers call it from one loop,
    the login from a worker thread)."""

    def __init__(self, limit: Limit, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.limit = limit
        self.clock = clock
        self.max_keys = max_keys
        self._rate = limit.per_minute / 60.0
        self._buckets: "OrderedDict[str, Tuple[float, float]]" = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.limit.burst), now))
        return min(float(self.limit.burst), tokens + max(0.0, now - at) * self._rate)

    def _wait(self, level: float) -> float:
        return (1.0 - level) / self._rate

    def take(self, key: str, cost: float = 1.0) -> Tuple[bool, float]:
        """(allowed, retry_after seconds): takes `cost` tokens when there are that many."""
        if not self.limit.enabled:
            return True, 0.0
        with self._lock:
            now = self.clock()
            level = self._level(key, now)
            if level < cost:
                self._store(key, level, now)
                return False, max(self._wait(level + 1.0 - cost), 0.001)
            self._store(key, level - cost, now)
            return True, 0.0

    def check(self, key: str) -> Tuple[bool, float]:
        """(allowed, retry_after) without taking anything: is there a token for `key`?"""
        if not self.limit.enabled:
            return True, 0.0
        with self._lock:
            level = self._level(key, self.clock())
            return (True, 0.0) if level >= 1.0 else (False, max(self._wait(level), 0.001))

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self.max_keys:
            self._evict(now)

    def _evict(self, now: float) -> None:
        """Full buckets go first, then the least recently used, down to 90% of max_keys (so the scan is
        paid once per many new keys)."""
        full = [k for k in self._buckets if self._level(k, now) >= self.limit.burst]
        for k in full:
            del self._buckets[k]
        if len(full) >= self.max_keys // 10 and len(self._buckets) <= self.max_keys:
            return  # room enough for a while
        target = self.max_keys - max(1, self.max_keys // 10)
        while len(self._buckets) > target:
            self._buckets.popitem(last=False)


def retry_after_header(seconds: float) -> str:
    """Retry-After is whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


def parse_proxies(raw: str) -> frozenset:
    return frozenset(p.strip() for p in (raw or "").split(",") if p.strip())


def client_ip(peer: Optional[str], forwarded_for: Optional[str], trusted: Collection[str]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy, then the right-most
    X-Forwarded-For entry that is not a trusted proxy (entries left of it are the client's to forge)."""
    peer = (peer or "").strip() or "unknown"
    if peer not in trusted or not forwarded_for:
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop[:64]
    return peer
