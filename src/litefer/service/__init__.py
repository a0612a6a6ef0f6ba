"""The HTTP service: a thin shell over :class:`litefer.pipeline.Recognizer` (``litefer[serve]``).

    from litefer.service import ServiceConfig, create_app
    app = create_app(ServiceConfig(model="mini_xception.fer2013"))   # any ASGI server runs it

Routes: ``POST /v1/analyze``, ``GET /v1/models``, ``GET /healthz``, WebSocket ``/v1/stream``,
the browser demo at ``/`` and FastAPI's OpenAPI schema at ``/openapi.json`` (docs at ``/docs``).
Importing this package imports neither FastAPI nor a model; ``create_app`` does.
"""
from __future__ import annotations

from .config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]


def create_app(config: ServiceConfig | None = None, recognizer=None, detector_factory=None):
    """See :func:`litefer.service.app.create_app` (imported lazily: it needs FastAPI)."""
    from .app import create_app as _create_app

    return _create_app(config, recognizer, detector_factory)
