"""The configured order backend: which adapter, built from Settings (configuration only)."""
from __future__ import annotations

from common.settings import Settings
from orders.backend import OrderBackend
from orders.breaker import CircuitBreaker


def backend_from_settings(settings: Settings) -> OrderBackend:
    if settings.order_backend == "http":
        from orders.http_backend import HttpOrderBackend

        return HttpOrderBackend(
            settings.order_api_url, settings.order_api_token, timeout=settings.order_api_timeout,
            retries=settings.order_api_retries,
            breaker=CircuitBreaker(settings.order_breaker_failures, settings.order_breaker_cooldown))
    from orders.sqlite_backend import SqliteOrderBackend

    return SqliteOrderBackend(settings.order_db)


def ensure_seeded(settings: Settings) -> int:
    """Seed the embedded order database from the demo fixture when it is empty; returns orders added."""
    if settings.order_backend != "sqlite":
        return 0
    from datetime import datetime, timezone

    from orders.fixture import load_fixture
    from orders.sqlite_backend import SqliteOrderBackend

    backend = SqliteOrderBackend(settings.order_db)
    if not backend.is_empty():
        return 0
    return backend.seed(load_fixture(now=datetime.now(timezone.utc)))
