"""The ASGI app factory.

Why FastAPI on uvicorn: the standard ASGI stack in Python; request validation, OpenAPI docs and
WebSockets come with it, its middleware and exception handlers are where limits and the
generic 500 belong, and the same app runs under any ASGI server (gunicorn -k uvicorn workers,
hypercorn). It stays a thin shell: every result comes from Recognizer and Result.to_dict().
"""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..errors import InvalidImageError
from .config import ServiceConfig
from .engine import Engine, Overloaded, TimedOut
from .limits import ApiKeyMiddleware, BodyLimitMiddleware, UnsupportedImage
from .routes import STATIC_DIR, router
from .stream import router as stream_router

logger = logging.getLogger("litefer.service")


def create_app(config: ServiceConfig | None = None, recognizer=None,
               detector_factory=None) -> FastAPI:
    """A FastAPI app over one Recognizer, loaded here once for the process.

    config: limits and choices (default: ServiceConfig.from_env()); recognizer: an existing
    Recognizer to serve (default: one built from config.model); detector_factory: name -> new
    detector for each inference thread (default: litefer.detect.create_detector with
    config.detect_size). Raises LiteferError subclasses when the model or detector is missing.
    """
    from ..detect import DEFAULT_DETECTOR, create_detector, list_detectors
    from ..pipeline import Recognizer

    config = config or ServiceConfig.from_env()
    default = config.detector or DEFAULT_DETECTOR
    if detector_factory is None:
        def detector_factory(name: str):
            sized = config.detect_size is not None and name != "none"
            det = create_detector(name, **({"detect_size": config.detect_size} if sized else {}))
            if hasattr(det, "threads"):  # parallelism comes from the inference threads
                det.threads = 1
            return det
    detector_factory(default)  # fail now (MissingDependencyError ...) rather than per request
    recognizer = recognizer or Recognizer(config.model, detector="none", threads=1)
    allowed = sorted(set(list_detectors(available_only=True)) | {default})
    engine = Engine(config, recognizer, detector_factory, allowed, default)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        engine.close()

    app = FastAPI(title="litefer", version=__version__, lifespan=lifespan,
                  description="Facial emotion recognition: faces, boxes and emotion "
                              "probabilities per image (POST /v1/analyze) or per camera frame "
                              "(WebSocket /v1/stream).")
    app.state.engine = engine
    app.include_router(router)
    app.include_router(stream_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, api_key=config.api_key)  # outermost: checked first
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` and worker processes: config from the environment."""
    return create_app(ServiceConfig.from_env())


def _error(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    """Typed errors -> 4xx/5xx with a message; anything else -> a generic 500 (logged here
    with its traceback, never sent to the client)."""

    @app.exception_handler(Overloaded)
    async def overloaded(_: Request, exc: Overloaded):
        return _error(429, str(exc), {"Retry-After": "1"})

    @app.exception_handler(TimedOut)
    async def timed_out(_: Request, exc: TimedOut):
        return _error(504, str(exc))

    @app.exception_handler(UnsupportedImage)
    async def unsupported(_: Request, exc: UnsupportedImage):
        return _error(415, str(exc))

    @app.exception_handler(InvalidImageError)
    async def invalid(_: Request, exc: InvalidImageError):
        return _error(422, str(exc))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):
        logger.error("unhandled error on %s %s", request.method, request.url.path,
                     exc_info=(type(exc), exc, exc.__traceback__))
        return _error(500, "internal server error")
