"""The content editors' API (/api/kb/*): browse and edit the FAQ corpus, preview answers, validate,
publish and roll back. For console accounts with the role `editor` or `supervisor`; agents get 403.

The rules live in knowledge/ (editing.py, checks.py, preview.py, publish.py); this module maps them to
HTTP. Long work (draft builds, publish, rollback) runs in worker threads so the service keeps
answering; a publish or rollback is a job: POST starts it (202), GET /api/kb/publish reports its
progress and result; a second one while it runs gets 409.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Optional

from aiohttp import web

from common.language import detect_language
from common.settings import ROOT, ConfigError, Settings
from handoff import app as core
from knowledge.checks import default_site, problem_json, publish_problems
from knowledge.corpus import CorpusError
from knowledge.editing import (
    Corpus,
    EditError,
    EntryNotFound,
    StaleEntry,
    draft_from_json,
    search_entries,
)
from knowledge.gate import GateConfig
from knowledge.history import Author
from knowledge.preview import Previewer
from knowledge.publish import Busy, PublishConfig, Publisher, RollbackError

logger = logging.getLogger(__name__)

EDIT_ROLES = ("editor", "supervisor")


@dataclass
class KbEditor:
    corpus: Corpus
    publisher: Publisher
    previewer: Previewer
    job: Optional[asyncio.Future] = field(default=None)


EDITOR = web.AppKey("kb_editor", KbEditor)


def make_editor(settings: Settings) -> KbEditor:
    missing = [str(p) for p in settings.kb_regression_files if not p.is_file()]
    if missing:
        raise ConfigError(f"CS_KB_REGRESSION_QUERIES: no such file(s) {missing}")
    options = settings.kb_build_options
    config = PublishConfig(
        corpus_dir=settings.faq_dir, kb_dir=settings.kb_dir, options=options, thresholds=settings.kb_thresholds,
        gate=GateConfig(queries=settings.kb_regression_files, recall_margin=settings.kb_gate_recall_margin,
                        wrong_margin=settings.kb_gate_wrong_margin, min_recall=settings.kb_gate_min_recall,
                        max_wrong=settings.kb_gate_max_wrong),
        log_path=settings.kb_publish_log, site=default_site(ROOT), git=settings.kb_git)
    return KbEditor(Corpus(settings.faq_dir), Publisher(config),
                    Previewer(settings.faq_dir, settings.kb_dir, options, settings.kb_thresholds))


# --- who, and errors ---------------------------------------------------------------------------------
def _editor(request: web.Request) -> dict:
    row = core._account(request)
    if row["role"] not in EDIT_ROLES:
        raise web.HTTPForbidden(reason="the knowledge base is edited by editors and supervisors")
    return row


def _author(row: dict) -> Author:
    return Author(id=str(row["id"]), name=str(row["name"] or row["id"]))


@web.middleware
async def kb_errors(request: web.Request, handler):
    if not request.path.startswith("/api/kb/"):
        return await handler(request)
    try:
        return await handler(request)
    except EditError as exc:
        return web.json_response({"error": str(exc), "problems": [{"field": f, "message": m}
                                                                  for f, m in exc.problems]}, status=400)
    except StaleEntry as exc:
        return web.json_response({"error": str(exc), "current": exc.current.as_json() if exc.current else None},
                                 status=409)
    except EntryNotFound as exc:
        return web.json_response({"error": f"no FAQ entry {exc.args[0]!r}"}, status=404)
    except (Busy, RollbackError) as exc:
        return web.json_response({"error": str(exc)}, status=409 if isinstance(exc, Busy) else 400)
    except CorpusError as exc:
        return web.json_response({"error": f"the corpus has errors: {exc}"}, status=400)


def _kb(request: web.Request) -> KbEditor:
    return request.app[EDITOR]


def _not_while_publishing(kb: KbEditor) -> None:
    if kb.publisher.busy() or (kb.job is not None and not kb.job.done()):
        raise Busy("a publish or rollback is running; save again when it has finished")


async def _off_loop(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


# --- entries -----------------------------------------------------------------------------------------
async def list_entries(request: web.Request) -> web.Response:
    _editor(request)
    kb = _kb(request)
    stored, problems = await _off_loop(kb.corpus.read)
    q = request.query
    found = search_entries(stored, q.get("q", ""), q.get("category", ""), q.get("tag", ""))
    return web.json_response({
        "entries": [s.as_json() for s in found], "total": len(stored),
        "categories": sorted({s.entry.category for s in stored}),
        "tags": sorted({t for s in stored for t in s.entry.tags}), "files": kb.corpus.files(),
        "problems": [problem_json(p) for p in problems if p.level == "error"]})


async def get_entry(request: web.Request) -> web.Response:
    _editor(request)
    stored = await _off_loop(_kb(request).corpus.get, request.match_info["id"])
    return web.json_response({"entry": stored.as_json()})


async def create_entry(request: web.Request) -> web.Response:
    row = _editor(request)
    kb = _kb(request)
    _not_while_publishing(kb)
    draft = draft_from_json(await core._body(request))
    result = await _off_loop(kb.corpus.save, draft, None, True)
    logger.info("faq entry created", extra={"entry": draft.id, "editor": row["id"], "files": result.files})
    return web.json_response({"entry": result.entry.as_json(), "warnings": list(result.warnings)}, status=201)


def _etag(request: web.Request, body: Optional[dict] = None) -> Optional[str]:
    given = request.headers.get("If-Match") or (body or {}).get("etag") or request.query.get("etag")
    return str(given).strip('"') if given else None


async def update_entry(request: web.Request) -> web.Response:
    row = _editor(request)
    kb = _kb(request)
    _not_while_publishing(kb)
    body = await core._body(request)
    entry_id = request.match_info["id"]
    if body.get("id") not in (None, entry_id):
        raise EditError("an entry's id cannot change: create a new entry and delete this one")
    draft = draft_from_json(body, entry_id)
    result = await _off_loop(kb.corpus.save, draft, _etag(request, body), False)
    logger.info("faq entry saved", extra={"entry": entry_id, "editor": row["id"], "files": result.files})
    return web.json_response({"entry": result.entry.as_json(), "warnings": list(result.warnings)})


async def delete_entry(request: web.Request) -> web.Response:
    row = _editor(request)
    kb = _kb(request)
    _not_while_publishing(kb)
    entry_id = request.match_info["id"]
    await _off_loop(kb.corpus.delete, entry_id, _etag(request))
    logger.info("faq entry deleted", extra={"entry": entry_id, "editor": row["id"]})
    return web.Response(status=204)


# --- preview, validate ---------------------------------------------------------------------------------
async def preview(request: web.Request) -> web.Response:
    _editor(request)
    body = await core._body(request)
    text = core._text(body, "text", limit=500)
    language = body.get("language") if body.get("language") in ("zh", "en") else detect_language(text)
    result = await _off_loop(_kb(request).previewer.preview, text, language)
    return web.json_response(result)


async def validate(request: web.Request) -> web.Response:
    _editor(request)
    kb = _kb(request)
    config = kb.publisher.config

    def run():
        from knowledge.encoders import load_encoder, spec_parts

        encoder = load_encoder(spec_parts(config.options.encoder)[0]) if config.check_conflicts else None
        return publish_problems(config.corpus_dir, config.site, encoder)

    problems = await _off_loop(run)
    errors = sum(p.level == "error" for p in problems)
    return web.json_response({"problems": [problem_json(p) for p in problems], "errors": errors,
                              "warnings": len(problems) - errors})


# --- publish, rollback, versions ------------------------------------------------------------------------
def _start(request: web.Request, kb: KbEditor, work) -> web.Response:
    if kb.publisher.busy() or (kb.job is not None and not kb.job.done()):
        status = kb.publisher.status()
        raise Busy(f"a {status.get('action', 'publish')} by {status.get('author', 'someone')} is running; wait for "
                   "it to finish")
    kb.job = asyncio.get_running_loop().run_in_executor(None, work)
    kb.job.add_done_callback(lambda f: f.exception() and logger.error("kb job failed", exc_info=f.exception()))
    return web.json_response({"job": {"state": "running", **kb.publisher.status()}}, status=202)


async def publish(request: web.Request) -> web.Response:
    row = _editor(request)
    kb = _kb(request)
    return _start(request, kb, lambda: kb.publisher.publish(_author(row)))


async def rollback(request: web.Request) -> web.Response:
    row = _editor(request)
    kb = _kb(request)
    body = await core._body(request) if request.can_read_body else {}
    version = body.get("version") or await _off_loop(kb.publisher.rollback_target)
    if not version:
        raise RollbackError("there is no earlier version to roll back to")
    return _start(request, kb, lambda: kb.publisher.rollback(_author(row), str(version)))


async def job_status(request: web.Request) -> web.Response:
    _editor(request)
    kb = _kb(request)
    status = kb.publisher.status()
    if kb.job is not None and not kb.job.done() and status.get("state") != "running":
        status = {"state": "running", "stage": "start"}  # the thread has not taken the lock yet
    return web.json_response({"job": status})


async def versions(request: web.Request) -> web.Response:
    _editor(request)
    publisher = _kb(request).publisher
    found = await _off_loop(publisher.versions)
    target = await _off_loop(publisher.rollback_target)
    return web.json_response({"versions": found, "rollback_target": target,
                              "log": publisher.log.records()[-20:][::-1]})


def register(app: web.Application, settings: Settings) -> None:
    app[EDITOR] = make_editor(settings)
    app.middlewares.append(kb_errors)
    r = app.router
    r.add_get("/api/kb/entries", list_entries)
    r.add_post("/api/kb/entries", create_entry)
    r.add_get("/api/kb/entries/{id}", get_entry)
    r.add_put("/api/kb/entries/{id}", update_entry)
    r.add_delete("/api/kb/entries/{id}", delete_entry)
    r.add_post("/api/kb/preview", preview)
    r.add_post("/api/kb/validate", validate)
    r.add_post("/api/kb/publish", publish)
    r.add_get("/api/kb/publish", job_status)
    r.add_post("/api/kb/rollback", rollback)
    r.add_get("/api/kb/versions", versions)
