"""Fixtures shared by the unit tests of the actions (test_actions.py, test_handoff_actions.py)."""
from __future__ import annotations

import pytest

from common.settings import ROOT, Settings
from knowledge.corpus import load_corpus
from knowledge.index import build_index


@pytest.fixture(scope="session")
def kb_dir(tmp_path_factory):
    """The knowledge-base index of the real FAQ corpus, built once per session (real encoder, FAISS)."""
    root = tmp_path_factory.mktemp("kb")
    build_index(load_corpus(ROOT / "data" / "faq"), root, Settings().kb_build_options)
    return root
