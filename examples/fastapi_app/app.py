"""The reference app: upload a document, read its status, follow its states as Server-Sent Events.

Run: ``uvicorn --factory examples.fastapi_app.app:create_app`` (with the worker's ``MEDIFLUX_*`` settings, and
the Procfile's ``worker`` and ``watcher`` running). The async data API is opened once, at start-up, and closed
at shutdown; every handler awaits it — no thread per request, none per waiting client.

The user id is taken from the path to keep the example short: a real app takes it from its own authenticated
session, never from the client.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse

from worker.api import AsyncDataAPI, open_async_api
from worker.appdata.errors import DataError, FileTooLarge, InvalidInput, UnknownSubmission, UnsupportedType
from worker.appdata.views import Submission, as_json
from worker.config import Settings

STREAM_LIMIT = 600.0  # an SSE stream ends after this long even if the document is still in progress
HTTP_CODES = ((FileTooLarge, 413), (UnsupportedType, 415), (InvalidInput, 422), (UnknownSubmission, 404))


def status_json(sub: Submission) -> dict[str, Any]:
    """What the app shows: the state, and the patient-facing message of a rejection (never a path)."""
    return {
        "id": sub.id,
        "state": sub.state,
        "final": sub.final,
        "document_id": sub.document_id,
        "reason": sub.reason,
        "message": sub.message,
        "summary": sub.summary,
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app; the data API opens in its lifespan (settings from MEDIFLUX_* when none are given)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.api = open_async_api(settings)
        try:
            yield
        finally:
            await app.state.api.close()

    app = FastAPI(title="mediflux reference app", lifespan=lifespan)

    def api_of(request: Request) -> AsyncDataAPI:
        return request.app.state.api

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> JSONResponse:
        """Typed errors of the data API as HTTP: their messages name a field, never a value."""
        code = next((c for kind, c in HTTP_CODES if isinstance(exc, kind)), 404)
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=code)

    @app.post("/users/{user_id}/documents", status_code=202)
    async def upload(request: Request, user_id: str, file: UploadFile = File(...)) -> dict[str, Any]:
        """Submit an uploaded file; answers at once with the submission (state ``received``)."""
        sub = await api_of(request).submit_document(
            user_id, file.file, file.filename or "upload", content_type=file.content_type
        )
        return status_json(sub)

    @app.get("/users/{user_id}/submissions/{submission_id}")
    async def status(request: Request, user_id: str, submission_id: str) -> dict[str, Any]:
        return status_json(await api_of(request).document_status(user_id, submission_id))

    @app.get("/users/{user_id}/submissions/{submission_id}/events")
    async def events(request: Request, user_id: str, submission_id: str) -> StreamingResponse:
        """Server-Sent Events: one ``state`` event per state reached, the stream ends at the final one."""
        api = api_of(request)
        # follow_document: one access trace for the whole stream, not one per look
        follow = api.follow_document(user_id, submission_id, timeout=STREAM_LIMIT)
        first = await anext(follow)  # an unknown submission is a 404 before the stream starts

        async def stream() -> AsyncIterator[str]:
            sub = first
            try:
                while True:
                    yield f"event: state\nid: {sub.state}\ndata: {json.dumps(status_json(sub))}\n\n"
                    if await request.is_disconnected():
                        return
                    sub = await anext(follow)
            except StopAsyncIteration:
                return
            finally:
                await follow.aclose()

        headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    @app.get("/users/{user_id}/documents/{document_id}")
    async def document(request: Request, user_id: str, document_id: int) -> dict[str, Any]:
        return as_json(await api_of(request).get_document(user_id, document_id))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
