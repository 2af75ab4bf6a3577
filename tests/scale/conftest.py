from __future__ import annotations

from typing import Iterator

import pytest

from tests.scale.redis_server import RedisServer, RedisUnavailable


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A throwaway redis-server for the session; fails, saying what to install, when it is missing."""
    try:
        server = RedisServer().start()
    except RedisUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
