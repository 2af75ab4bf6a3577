"""Token buckets (common/ratelimit.py) on a stepped clock, their bounded memory, the client address
behind trusted proxies, and the settings that configure them."""
from __future__ import annotations

import pytest

from common.ratelimit import Limit, TokenBuckets, client_ip, retry_after_header
from common.settings import ConfigError, Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_refusals_with_the_wait_until_the_next_token():
    clock = Clock()
    buckets = TokenBuckets(Limit(per_minute=6, burst=3), clock=clock)  # a token every 10 s
    assert [buckets.take("a")[0] for _ in range(3)] == [True, True, True]
    allowed, wait = buckets.take("a")
    assert not allowed and wait == pytest.approx(10.0)
    clock.now += 4
    allowed, wait = buckets.take("a")
    assert not allowed and wait == pytest.approx(6.0)
    clock.now += 6
    assert buckets.take("a") == (True, 0.0)
    assert not buckets.take("a")[0]
    assert buckets.take("b")[0], "keys are independent"


def test_refill_never_exceeds_the_burst():
    clock = Clock()
    buckets = TokenBuckets(Limit(per_minute=60, burst=2), clock=clock)
    buckets.take("a")
    clock.now += 3600
    assert [buckets.take("a")[0] for _ in range(3)] == [True, True, False]


def test_check_takes_nothing():
    clock = Clock()
    buckets = TokenBuckets(Limit(per_minute=60, burst=1), clock=clock)
    assert buckets.check("a") == (True, 0.0)
    assert buckets.check("a") == (True, 0.0)
    buckets.take("a")
    allowed, wait = buckets.check("a")
    assert not allowed and wait == pytest.approx(1.0)


def test_a_limit_of_zero_is_off():
    buckets = TokenBuckets(Limit(per_minute=0, burst=0), clock=Clock())
    assert all(buckets.take("a")[0] for _ in range(1000))
    assert len(buckets) == 0


def test_memory_is_bounded_and_full_buckets_go_first():
    clock = Clock()
    buckets = TokenBuckets(Limit(per_minute=6, burst=2), clock=clock, max_keys=2)  # a token every 10 s
    buckets.take("flooder")
    buckets.take("flooder")
    clock.now += 1
    buckets.take("quiet")
    clock.now += 10  # quiet is full again (same as no bucket), flooder is not
    buckets.take("new")
    assert len(buckets) <= 2
    assert buckets.take("flooder")[0] and not buckets.take("flooder")[0], "the flooder's bucket was kept"
    many = TokenBuckets(Limit(per_minute=6, burst=2), clock=clock, max_keys=100)
    for i in range(10_000):
        many.take(f"k{i}")
    assert len(many) <= 100


def test_least_recently_used_goes_when_none_is_full():
    clock = Clock()
    buckets = TokenBuckets(Limit(per_minute=1, burst=1), clock=clock, max_keys=3)
    for key in "abcd":
        buckets.take(key)  # all empty now, none refills within the test
    assert len(buckets) <= 3
    assert buckets.take("a")[0], "a was evicted, so it starts full again"
    assert not buckets.take("d")[0]


def test_retry_after_is_whole_seconds_at_least_one():
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(1.2) == "2"
    assert retry_after_header(10) == "10"


@pytest.mark.parametrize("peer, forwarded, trusted, expected", [
    ("203.0.113.9", None, set(), "203.0.113.9"),
    ("203.0.113.9", "1.2.3.4", set(), "203.0.113.9"),  # an untrusted peer cannot claim another address
    ("10.0.0.2", "1.2.3.4", {"10.0.0.2"}, "1.2.3.4"),
    ("10.0.0.2", "6.6.6.6, 1.2.3.4", {"10.0.0.2"}, "1.2.3.4"),  # the left part is the client's to forge
    ("10.0.0.2", "1.2.3.4, 10.0.0.3", {"10.0.0.2", "10.0.0.3"}, "1.2.3.4"),
    ("10.0.0.2", "", {"10.0.0.2"}, "10.0.0.2"),
    (None, None, set(), "unknown"),
])
def test_client_address(peer, forwarded, trusted, expected):
    assert client_ip(peer, forwarded, trusted) == expected


def test_settings_validate_the_limits():
    settings = Settings.from_env({"CS_RATE_CUSTOMER_PER_MINUTE": "30", "CS_RATE_CUSTOMER_BURST": "5",
                                  "CS_TRUSTED_PROXIES": "127.0.0.1, ::1"})
    assert settings.rate_limit("customer") == Limit(30.0, 5)
    assert Settings().rate_limit("login_ip").enabled
    with pytest.raises(ConfigError, match="CS_RATE_IP_BURST"):
        Settings.from_env({"CS_RATE_IP_BURST": "-1"})
    with pytest.raises(ConfigError, match="CS_RATE_LOGIN_IP_PER_MINUTE"):
        Settings.from_env({"CS_RATE_LOGIN_IP_PER_MINUTE": "1e9"})
    with pytest.raises(ConfigError, match="CS_TRUSTED_PROXIES"):
        Settings.from_env({"CS_TRUSTED_PROXIES": "proxy.internal"})
