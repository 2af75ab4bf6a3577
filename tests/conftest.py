"""Shared fixtures: the trained model, a real running stack (Rasa + action server + web page), and a
throwaway PostgreSQL server (tests/pg.py)."""
from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Iterator

import pytest

from common.settings import Settings
from ops.knowledge import ensure_index
from ops.services import build_services
from ops.supervisor import Supervisor
from ops.training import ensure_model
from orders.factory import ensure_seeded

# Signs the customer tokens the tests' "channel" sends (common/identity.py); test-only value.
IDENTITY_SECRET = "test-identity-secret-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server for the whole session (tests/pg.py); fails, saying what to install,
    where the server binaries are missing."""
    from tests.pg import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer.start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres) -> Iterator[str]:
    """The URL of a fresh, empty database on the session's PostgreSQL server, dropped afterwards."""
    url = postgres.create_database()
    try:
        yield url
    finally:
        postgres.drop_database(url)


@pytest.fixture(scope="session")
def model() -> Path:
    """The model trained from data/ (trained now if `make test` did not already)."""
    return ensure_model()


class Stack:
    def __init__(self, settings: Settings, supervisor: Supervisor) -> None:
        self.settings = settings
        self.supervisor = supervisor

    @property
    def rasa_url(self) -> str:
        return self.settings.rasa_url

    @property
    def web_url(self) -> str:
        return self.settings.web_url

    @property
    def handoff_url(self) -> str:
        return self.settings.handoff_url

    @property
    def handoff_db(self) -> Path:
        return self.settings.handoff_db

    def knowledge_base(self):
        """The live index of the running stack, opened in the test process (same files, same encoder)."""
        from knowledge.index import open_current
        from knowledge.search import KnowledgeBase

        version = open_current(self.settings.kb_dir)
        return KnowledgeBase.load(version, self.settings.kb_hybrid_weight)


@pytest.fixture(scope="session")
def stack(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """All services of the product, started by the real supervisor on free ports, fresh state."""
    var_dir = tmp_path_factory.mktemp("var")
    # A copy of the FAQ corpus, so that tests can edit it and publish while the stack runs.
    faq_dir = var_dir / "faq"
    shutil.copytree(Settings().faq_dir, faq_dir)
    settings = Settings(rasa_port=free_port(), action_port=free_port(), web_port=free_port(),
                        handoff_port=free_port(), handoff_hours="00:00-24:00", var_dir=var_dir,
                        faq_dir=faq_dir, kb_dir=var_dir / "kb",
                        identity_secret=IDENTITY_SECRET)
    ensure_index(settings, quiet=True)
    ensure_seeded(settings)
    supervisor = Supervisor(build_services(settings, model), settings.var_dir, settings.host)
    supervisor.start()
    try:
        yield Stack(settings, supervisor)
    finally:
        supervisor.stop()
