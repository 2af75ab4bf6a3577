"""A circuit breaker: after `threshold` failures in a row, calls fail fast for `cooldown` seconds.

States: closed (calls pass) -> open (calls refused) -> half-open after the cooldown (one trial
call passes; success closes, failure opens again; a trial that reports neither within a cooldown,
e.g. a call cancelled mid-flight, is given up and the next call is the new trial). While the order
system is down, customers get the "try again later / talk to a person" answer at once instead of
waiting for timeouts, and the failing system is not hammered with retries.
"""
from __future__ import annotations

import time
from typing import Callable


class CircuitOpen(Exception):
    """Calls are refused until the cooldown has passed."""


class CircuitBreaker:
    def __init__(self, threshold: int = 5, cooldown: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if threshold < 1 or cooldown <= 0:
            raise ValueError("threshold must be >= 1 and cooldown > 0")
        self.threshold, self.cooldown, self.clock = threshold, cooldown, clock
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_running = False
        self._trial_started = 0.0

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.cooldown else "open"

    def before_call(self) -> None:
        """Raise CircuitOpen when the call must not be made."""
        state = self.state
        trial_alive = self._trial_running and self.clock() - self._trial_started < self.cooldown
        if state == "open" or (state == "half-open" and trial_alive):
            raise CircuitOpen(f"order system unavailable; next try in "
                              f"{max(0.0, self.cooldown - (self.clock() - self.opened_at)):.0f} s")
        if state == "half-open":
            self._trial_running, self._trial_started = True, self.clock()

    def succeeded(self) -> None:
        self.failures, self.opened_at, self._trial_running = 0, None, False

    def failed(self) -> None:
        self._trial_running = False
        self.failures += 1
        if self.opened_at is not None or self.failures >= self.threshold:
            self.opened_at = self.clock()
