"""Build and open versioned knowledge-base indexes.

Layout under the index root (default ``var/kb``)::

    CURRENT                         name of the live version (replaced atomically)
    versions/<time>-<seq>-<hash8>/  one immutable folder per build (seq: build number)
        manifest.json               encoder name/version, dimension, corpus hash, build time, counts, index type
        entries.json                the entries as published (answers come from here, not from the YAML)
        rows.json                   one row per question (and answer): [entry number, text, "q" | "a"]
        embeddings.npy              row vectors (float32), reused by the next build for unchanged questions
        index.faiss                 FAISS inner-product index over the rows (flat when small, HNSW when large)
        head.npz                    per-entry linear classifier over the same vectors (small and mid corpora)
        corpus/                     copy of the YAML files it was built from (builds from a corpus folder)

A build writes into a hidden ``.partial`` folder and renames it when complete, then points CURRENT at it,
so a reader never sees half a version. Building an unchanged corpus with the same encoder is a no-op.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from knowledge.corpus import FaqEntry, load_corpus
from knowledge.encoders import Encoder
from knowledge.head import LinearHead

FORMAT = 2
FLAT_MAX_ROWS = 10_000      # above, HNSW: exact search of one query costs ~12 ms at 40k rows, HNSW ~2 ms at 400k
HEAD_MAX_ENTRIES = 2_000    # above this, training the classifier costs more than it helps; kNN only
KEEP_VERSIONS = 3          # adapted models weigh ~90 MB per version
CORPUS_COPY = "corpus"     # the corpus files a version was built from (for rollback)


class KnowledgeIndexError(RuntimeError):
    """An index is missing, incomplete, or was built for another encoder."""


IndexMissing = KnowledgeIndexError  # the same error; a name for readers of the call sites


@dataclass(frozen=True)
class PartInfo:
    spec: str           # encoder spec of this part ("use", "minilm", "st:<path>")
    name: str
    version: str
    dim: int
    adapted: bool       # fine-tuned on this corpus; the model is saved in the version folder


@dataclass(frozen=True)
class Manifest:
    format: int
    version: str
    encoder: str        # the configured spec, e.g. "use+minilm"
    options: dict       # BuildOptions
    parts: List[dict]   # PartInfo records, in concatenation order
    dim: int
    corpus_hash: str
    build_key: str
    built_at: str
    build_seconds: float
    entries: int
    rows: int
    index_type: str
    head: bool
    encoded_rows: int
    reused_rows: int
    negatives: int = 0  # texts of the classifier's "none of these" class


@dataclass(frozen=True)
class BuildOptions:
    encoder: str = "use"
    adapt_epochs: int = 0       # > 0: fine-tune sentence-transformers parts on the corpus (knowledge/adapt.py)
    index_answers: bool = True  # answers are indexed as extra rows of their entry (zh top-1 0.80 -> 0.84)
    negatives: Tuple[str, ...] = ()  # texts no entry answers: the classifier's "none of these" class

    def key(self) -> str:
        digest = hashlib.sha256("\n".join(self.negatives).encode("utf-8")).hexdigest()[:12] if self.negatives else "-"
        return f"{self.encoder}|adapt={self.adapt_epochs}|answers={self.index_answers}|negatives={digest}"


@dataclass(frozen=True)
class BuildResult:
    path: Path
    manifest: Manifest
    changed: bool  # False: the live version already matched the corpus and encoder


# --- hashing -------------------------------------------------------------------------------

def entry_record(entry: FaqEntry) -> dict:
    return {"id": entry.id, "category": entry.category, "questions": list(entry.questions),
            "answer": dict(sorted(entry.answer.items())), "tags": list(entry.tags), "source": entry.source}


def corpus_hash(entries: Sequence[FaqEntry]) -> str:
    """Hash of the content (not the formatting or comments) of the corpus."""
    records = sorted((entry_record(e) for e in entries), key=lambda r: r["id"])
    payload = json.dumps(records, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()


def build_key(entries: Sequence[FaqEntry], options: BuildOptions, parts: Sequence[Encoder]) -> str:
    identity = "|".join(f"{p.name}:{p.version}" for p in parts)
    raw = f"{FORMAT}|{options.key()}|{identity}|{corpus_hash(entries)}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


# --- reading the root ----------------------------------------------------------------------

def current_version(root: Path) -> Optional[Path]:
    pointer = Path(root) / "CURRENT"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    path = Path(root) / "versions" / name
    return path if (path / "manifest.json").exists() else None


def read_manifest(path: Path) -> Manifest:
    try:
        data = json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))
        return Manifest(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise KnowledgeIndexError(
            f"{path}: unreadable index manifest ({exc}); rebuild with `python -m knowledge build`") from exc


def _sequence(name: str) -> int:
    """Build number of a version folder (<time>-<sequence>-<hash>): orders builds even within a second."""
    parts = name.split("-")
    return int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else 0


def list_versions(root: Path) -> List[Path]:
    """Complete version folders, oldest build first."""
    folder = Path(root) / "versions"
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: (_sequence(p.name), p.name))


def set_current(root: Path, version_path: Path) -> None:
    """Point CURRENT at a version (atomic replace: readers see the old or the new name)."""
    root = Path(root)
    if not (version_path / "manifest.json").exists():
        raise KnowledgeIndexError(f"{version_path} is not a complete index version")
    tmp = root / f".CURRENT.{os.getpid()}.tmp"
    tmp.write_text(version_path.name + "\n", encoding="utf-8")
    os.replace(tmp, root / "CURRENT")


# --- building ------------------------------------------------------------------------------

def _cached_vectors(root: Path, part: Encoder, also: Sequence[Path] = ()) -> Dict[str, np.ndarray]:
    """Vectors of questions embedded by the newest earlier build with the same (unadapted) encoder part
    (under `root`, else under the roots in `also`)."""
    for path in [p for r in (root, *also) for p in reversed(list_versions(r))]:
        try:
            manifest = read_manifest(path)
            position = next((k for k, info in enumerate(manifest.parts)
                             if (info["name"], info["version"], info["dim"], info["adapted"])
                             == (part.name, part.version, part.dim, False)), None)
            if position is None:
                continue
            rows = json.loads((path / "rows.json").read_text(encoding="utf-8"))
            vectors = np.load(path / f"part-{position}.npy", mmap_mode="r")
        except (KnowledgeIndexError, OSError, ValueError, KeyError):
            continue
        return {row[1]: np.array(vector) for row, vector in zip(rows, vectors, strict=False)}
    return {}


def _faiss_index(vectors: np.ndarray, index_type: str):
    import faiss

    dim = vectors.shape[1]
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def choose_index_type(rows: int) -> str:
    return "flat" if rows <= FLAT_MAX_ROWS else "hnsw"


Progress = Callable[[str, int, int], None]


def build_index(entries: Sequence[FaqEntry], root: Path, options: BuildOptions, *, force: bool = False,
                progress: Optional[Progress] = None, batch_size: int = 64,
                make_current: bool = True, corpus_dir: Optional[Path] = None,
                cache_from: Sequence[Path] = ()) -> BuildResult:
    """Embed and index `entries` as a new version under `root` (no-op when nothing changed).

    `corpus_dir`: the YAML files the entries were read from are copied into the version (`corpus/`), so
    a rollback can restore them; `cache_from`: other index roots whose vectors may be reused."""
    import faiss

    from knowledge.encoders import SentenceTransformerEncoder, combine, load_encoder, spec_parts

    root = Path(root)
    if not entries:
        raise KnowledgeIndexError("the FAQ corpus has no entries: nothing to index")
    parts = [load_encoder(spec) for spec in spec_parts(options.encoder)]
    key = build_key(entries, options, parts)
    live = current_version(root)
    if live is not None and not force:
        try:
            manifest = read_manifest(live)
            if manifest.build_key == key and manifest.format == FORMAT:
                return BuildResult(live, manifest, changed=False)
        except KnowledgeIndexError:
            pass
    started = time.monotonic()
    rows: List[Tuple[int, str, str]] = [(i, q, "q") for i, e in enumerate(entries) for q in e.questions]
    if options.index_answers:
        rows += [(i, a, "a") for i, e in enumerate(entries) for _, a in sorted(e.answer.items())]
    texts = [t for _, t, _ in rows]
    stamp = datetime.now(timezone.utc)
    sequence = max((_sequence(p.name) for p in list_versions(root)), default=0) + 1
    name = f"{stamp.strftime('%Y%m%dT%H%M%S')}-{sequence:05d}-{key[:8]}"
    versions = root / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    if (versions / name).exists():  # the same content built twice within a second (forced)
        name = f"{name}-{os.getpid()}"
    final, partial = versions / name, versions / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        infos, part_vectors, part_encoders, encoded, reused = [], [], [], 0, 0
        for k, (spec, part) in enumerate(zip(spec_parts(options.encoder), parts, strict=False)):
            if options.adapt_epochs > 0 and getattr(part, "adaptable", False):
                from knowledge.adapt import adapt

                groups = [list(e.questions) for e in entries]
                path = adapt(part.model_path, groups, partial / "encoders" / str(k),
                             epochs=options.adapt_epochs, progress=progress)
                adapted = SentenceTransformerEncoder(str(path), name=part.name,
                                                     languages=getattr(part, "languages", None))
                vectors, fresh = _embed(adapted, texts, {}, batch_size, progress, f"embed {part.name}")
                encoded += fresh
                infos.append(PartInfo(spec, part.name, part.version, part.dim, True))
                part_encoders.append(adapted)
            else:
                cache = {} if force else _cached_vectors(root, part, cache_from)
                vectors, fresh = _embed(part, texts, cache, batch_size, progress, f"embed {part.name}")
                encoded, reused = encoded + fresh, reused + len(set(texts)) - fresh
                infos.append(PartInfo(spec, part.name, part.version, part.dim, False))
                part_encoders.append(part)
            np.save(partial / f"part-{k}.npy", vectors)
            part_vectors.append(vectors)
        vectors = combine(part_vectors)
        index_type = choose_index_type(len(rows))
        if progress:
            progress("index", 0, 1)
        index = _faiss_index(vectors, index_type)
        if progress:
            progress("index", 1, 1)
        head = None
        if 1 < len(entries) <= HEAD_MAX_ENTRIES:
            if progress:
                progress("classifier", 0, 1)
            negatives = (combine([e.encode(list(options.negatives)) for e in part_encoders])
                         if options.negatives else None)
            head = LinearHead.train(vectors, np.array([i for i, _, _ in rows]), len(entries), negatives)
            head.save(partial / "head.npz")
            if progress:
                progress("classifier", 1, 1)
        if corpus_dir is not None:
            snapshot_corpus(Path(corpus_dir), partial / CORPUS_COPY)
        (partial / "entries.json").write_text(
            json.dumps([entry_record(e) for e in entries], ensure_ascii=False), encoding="utf-8")
        (partial / "rows.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        faiss.write_index(index, str(partial / "index.faiss"))
        manifest = Manifest(
            format=FORMAT, version=name, encoder=options.encoder,
            options={**asdict(options), "negatives": len(options.negatives)},
            parts=[asdict(i) for i in infos],
            dim=int(vectors.shape[1]), corpus_hash=corpus_hash(entries), build_key=key,
            built_at=stamp.isoformat(timespec="seconds"), build_seconds=round(time.monotonic() - started, 3),
            entries=len(entries), rows=len(rows), index_type=index_type, head=head is not None,
            encoded_rows=encoded, reused_rows=reused,
            negatives=len(options.negatives) if head is not None else 0)
        (partial / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2), encoding="utf-8")
        os.rename(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # nothing half-built is ever left for a reader
        raise
    if make_current:
        set_current(root, final)
        prune(root)
    return BuildResult(final, manifest, changed=True)


def _embed(encoder: Encoder, texts: Sequence[str], cache: Dict[str, np.ndarray], batch_size: int,
           progress: Optional[Progress], stage: str) -> Tuple[np.ndarray, int]:
    """Vectors of `texts`, from the cache or encoded now; and how many distinct texts were encoded."""
    missing = sorted({t for t in texts if t not in cache})
    fresh: Dict[str, np.ndarray] = {}
    for start in range(0, len(missing), batch_size):
        chunk = missing[start:start + batch_size]
        fresh.update(zip(chunk, encoder.encode(chunk, batch_size=batch_size), strict=False))
        if progress:
            progress(stage, min(start + batch_size, len(missing)), len(missing))
    return np.vstack([fresh[t] if t in fresh else cache[t] for t in texts]).astype(np.float32), len(missing)


def build_from_corpus(corpus_dir: Path, root: Path, options: BuildOptions, **kwargs) -> BuildResult:
    """Build from the corpus folder, keeping a copy of its files in the version."""
    return build_index(load_corpus(corpus_dir), root, options, corpus_dir=corpus_dir, **kwargs)


def corpus_files(directory: Path) -> List[Path]:
    directory = Path(directory)
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")], key=lambda p: p.name)


def snapshot_corpus(corpus_dir: Path, into: Path) -> None:
    """Copy the corpus files (*.yml, *.yaml) into `into` (created)."""
    into.mkdir(parents=True, exist_ok=True)
    for path in corpus_files(corpus_dir):
        shutil.copy2(path, into / path.name)


def prune(root: Path, keep: int = KEEP_VERSIONS, protect: Sequence[str] = ()) -> None:
    """Delete old versions, keeping the newest `keep`, always the live one and those named in `protect`."""
    live = current_version(root)
    versions = list_versions(root)
    for path in versions[:-keep] if keep else versions:
        if live is not None and path.resolve() == live.resolve() or path.name in protect:
            continue
        shutil.rmtree(path, ignore_errors=True)
    for stale in (Path(root) / "versions").glob(".*.partial"):
        if time.time() - stale.stat().st_mtime > 3600:  # an interrupted build
            shutil.rmtree(stale, ignore_errors=True)


# --- opening -------------------------------------------------------------------------------

@dataclass(frozen=True)
class IndexVersion:
    path: Path
    manifest: Manifest
    entries: Tuple[FaqEntry, ...]
    row_entry: np.ndarray          # (rows,) entry number of each row
    row_text: Tuple[str, ...]
    row_is_question: np.ndarray    # (rows,) False for answer rows
    index: object                  # faiss.Index
    head: Optional[LinearHead]

    @classmethod
    def open(cls, path: Path) -> "IndexVersion":
        import faiss

        path = Path(path)
        manifest = read_manifest(path)
        if manifest.format != FORMAT:
            raise KnowledgeIndexError(f"{path}: index format {manifest.format}, this code reads {FORMAT}; rebuild it")
        try:
            records = json.loads((path / "entries.json").read_text(encoding="utf-8"))
            rows = json.loads((path / "rows.json").read_text(encoding="utf-8"))
            index = faiss.read_index(str(path / "index.faiss"))
            head = LinearHead.load(path / "head.npz") if manifest.head else None
        except (OSError, ValueError, RuntimeError) as exc:
            raise KnowledgeIndexError(f"{path}: incomplete index version ({exc}); rebuild it") from exc
        if hasattr(index, "hnsw"):
            index.hnsw.efSearch = 128
        entries = tuple(FaqEntry(id=r["id"], category=r["category"], questions=tuple(r["questions"]),
                                 answer=r["answer"], tags=tuple(r["tags"]), source=r.get("source", ""))
                        for r in records)
        return cls(path, manifest, entries, np.array([r[0] for r in rows], dtype=np.int64),
                   tuple(r[1] for r in rows), np.array([r[2] == "q" for r in rows], dtype=bool), index, head)

    def query_encoder(self) -> Encoder:
        """The encoder that embeds queries for this version: the configured parts, with the models
        adapted to this corpus loaded from the version folder."""
        from knowledge.encoders import ConcatEncoder, SentenceTransformerEncoder, load_encoder

        parts: List[Encoder] = []
        for k, info in enumerate(self.manifest.parts):
            if info["adapted"]:
                languages = getattr(load_encoder(info["spec"]), "languages", None)
                parts.append(SentenceTransformerEncoder(str(self.path / "encoders" / str(k)), name=info["name"],
                                                        languages=languages))
            else:
                part = load_encoder(info["spec"])
                if (part.name, part.version, part.dim) != (info["name"], info["version"], info["dim"]):
                    raise KnowledgeIndexError(
                        f"{self.path.name} was built with {info['name']} {info['version']}, but this machine "
                        f"has {part.name} {part.version}; rebuild with `python -m knowledge build`")
                parts.append(part)
        return parts[0] if len(parts) == 1 else ConcatEncoder(parts)


def open_current(root: Path) -> IndexVersion:
    path = current_version(root)
    if path is None:
        raise IndexMissing(f"no knowledge-base index under {root}; build one with `python -m knowledge build`")
    return IndexVersion.open(path)
