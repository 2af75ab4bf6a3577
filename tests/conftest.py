"""Shared fixtures: the trained model and a real running stack (Rasa + action server + web page)."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Iterator

import pytest

from common.settings import Settings
from ops.knowledge import ensure_index
from ops.services import build_services
from ops.supervisor import Supervisor
from ops.training import ensure_model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    def handoff_db(self) -> Path:
        return self.settings.handoff_db


@pytest.fixture(scope="session")
def stack(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """All services of the product, started by the real supervisor on free ports, fresh state."""
    settings = Settings(rasa_port=free_port(), action_port=free_port(), web_port=free_port(),
                        var_dir=tmp_path_factory.mktemp("var"))
    ensure_index(settings, quiet=True)  # the index of data/faq, shared with `make run` (var/kb)
    supervisor = Supervisor(build_services(settings, model), settings.var_dir, settings.host)
    supervisor.start()
    try:
        yield Stack(settings, supervisor)
    finally:
        supervisor.stop()
