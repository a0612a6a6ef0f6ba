"""HTTP routes: analyze, models, health and the browser page. Bodies are only ever read into
memory (within the size limit); no request value is used as a file path."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path, PurePath

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from .engine import Engine
from .limits import check_image_header

STATIC_DIR = Path(__file__).resolve().parent / "static"
RAW_TYPES = ("image/", "application/octet-stream")
PAGE_HEADERS = {  # the page talks only to this server and loads nothing from elsewhere
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                               "media-src 'self' blob: mediastream:; connect-src 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
ANALYZE_BODY = {
    "requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}}}},
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    }},
}
ANALYZE_RESPONSES = {
    200: {"description": "Result.to_dict(): source, frame, time, width, height, faces (box "
                         "x1/y1/x2/y2 in source pixels, score, landmarks, label, confidence, "
                         "probs over every class, track_id), error, timings_ms"},
    401: {"description": "missing or wrong API key"},
    408: {"description": "the body did not arrive within the timeout"},
    413: {"description": "body too large"},
    415: {"description": "not a JPEG, PNG, BMP or WebP image"},
    422: {"description": "undecodable image, too many pixels or a bad query value"},
    429: {"description": "server busy (Retry-After)"}, 504: {"description": "timed out"},
}

router = APIRouter()


def engine_of(request) -> Engine:
    return request.app.state.engine


@router.get("/healthz", tags=["service"])
async def healthz(request: Request) -> dict:
    """Liveness: the model is loaded and the event loop answers (no API key needed)."""
    engine = engine_of(request)
    return {"status": "ok", "model": engine.recognizer.spec.name, "in_flight": engine.in_flight}


@router.get("/v1/models", tags=["v1"])
async def models(request: Request) -> dict:
    """The loaded model and its labels, shipped weights, detectors and the server's limits."""
    return engine_of(request).describe()


@router.post("/v1/analyze", tags=["v1"], openapi_extra=ANALYZE_BODY, responses=ANALYZE_RESPONSES)
async def analyze(request: Request,
                  detector: str | None = Query(None, max_length=32,
                                               description="face detector (see /v1/models)"),
                  min_face: float = Query(0.0, ge=0, le=100_000,
                                          description="ignore faces smaller than this (px)"),
                  top_k: int = Query(0, ge=0, le=1000,
                                     description="keep the k largest faces (0 = all)"),
                  tta: str | None = Query(None, max_length=8,
                                          description="test-time averaging of each face: flip "
                                                      "(2 classifier runs) or crops (14)")):
    """Every face in one image and its emotion probabilities: send the image as the raw body
    (Content-Type image/jpeg, image/png, ...) or as the 'file' field of a multipart form."""
    engine = engine_of(request)
    if top_k > engine.config.max_top_k:
        raise HTTPException(422, f"top_k must be at most {engine.config.max_top_k}")
    try:
        opts = engine.options(detector, min_face, top_k, tta)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    deadline = time.monotonic() + engine.config.timeout_s
    engine.refuse_if_full()  # 429 before a busy server reads the body
    try:  # the body arrives before a place is taken: a client that stalls holds none (408)
        data, source = await asyncio.wait_for(read_image_body(request), engine.config.timeout_s)
    except asyncio.TimeoutError:
        raise HTTPException(408, "the request body did not arrive in time") from None
    check_image_header(data, engine.config.max_image_pixels)
    with engine.admit(deadline) as ticket:
        result = await engine.run(ticket, engine.analyze, data, source, opts)
    return JSONResponse(result.to_dict())


async def read_image_body(request: Request) -> tuple[bytes, str]:
    """(image bytes, source name) from a multipart 'file' field or the raw body; 415 for any
    other content type. The client's file name is only echoed back as the source."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=8)
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPException(422, "multipart body has no 'file' field holding an image")
            return await upload.read(), PurePath(upload.filename or "upload").name[:200] or "upload"
        finally:
            await form.close()  # spooled temporary files go now, not at garbage collection
    if ctype and not ctype.startswith(RAW_TYPES):
        raise HTTPException(415, f"unsupported Content-Type {ctype!r}: send the image as "
                                 "image/jpeg, image/png, image/bmp, image/webp or "
                                 "application/octet-stream, or as multipart/form-data field 'file'")
    return await request.body(), "<body>"


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)
