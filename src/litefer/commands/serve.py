"""`litefer serve`: the HTTP/WebSocket service and browser demo (needs litefer[serve])."""
from __future__ import annotations

import argparse
import ipaddress
import logging
import os

from ..errors import LiteferError, require

logger = logging.getLogger("litefer.service")


def add_parser(sub, name: str) -> None:
    from ..service.config import ServiceConfig  # FastAPI-free

    d = ServiceConfig()
    p = sub.add_parser(name, help="serve the HTTP API and browser demo (needs litefer[serve])",
                       description="Serve POST /v1/analyze, GET /v1/models, GET /healthz, "
                                   "WebSocket /v1/stream, the browser demo at / and OpenAPI "
                                   "docs at /docs. Binds to loopback unless --host says otherwise.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default=None,
                   help="shipped name or .onnx path (default: package default)")
    p.add_argument("--detector", default=None,
                   help="default face detector (default: the library's)")
    p.add_argument("--detect-size", type=int, default=None,
                   help="longest side detection runs at (default: the detector's)")
    p.add_argument("--workers", type=int, default=1,
                   help="server processes, each loading the model once (default 1)")
    p.add_argument("--threads", type=int, default=d.threads, help="inference threads per process")
    p.add_argument("--queue", type=int, default=d.queue,
                   help="requests that may wait for a thread; beyond that 429")
    p.add_argument("--timeout", type=float, default=d.timeout_s, help="per-request seconds (504)")
    p.add_argument("--max-body-mb", type=float, default=d.max_body_bytes / 2**20,
                   help="largest request body or stream frame, MiB (413)")
    p.add_argument("--max-megapixels", type=float, default=d.max_image_pixels / 1e6,
                   help="largest image size its header may declare (422)")
    p.add_argument("--max-streams", type=int, default=d.max_streams,
                   help="concurrent WebSocket streams per process")
    p.add_argument("--max-connections", type=int, default=512,
                   help="open connections per process before uvicorn answers 503")
    p.add_argument("--api-key", default=None,
                   help="require this key on every route but /healthz and the page "
                        "(default: $LITEFER_API_KEY)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info",
                                                           "debug"])
    p.add_argument("--no-access-log", action="store_true", help="do not log every request")
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace):
    from ..service.config import API_KEY_ENV, ServiceConfig

    return ServiceConfig(
        model=args.model, detector=args.detector, detect_size=args.detect_size,
        threads=args.threads, queue=args.queue, timeout_s=args.timeout,
        max_body_bytes=int(args.max_body_mb * 2**20),
        max_image_pixels=int(args.max_megapixels * 1e6), max_streams=args.max_streams,
        api_key=args.api_key or os.environ.get(API_KEY_ENV) or None)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    require("fastapi", "serve")
    uvicorn = require("uvicorn", "serve")
    from ..service.config import CONFIG_ENV

    if args.workers < 1:
        raise LiteferError(f"--workers must be >= 1, got {args.workers}")
    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise LiteferError(str(exc)) from None
    if not is_loopback(args.host) and config.api_key is None:
        logger.warning("serving on %s without an API key: anyone who can reach it can use it "
                       "(set --api-key or $LITEFER_API_KEY)", args.host)
    options = dict(host=args.host, port=args.port, log_level=args.log_level,
                   access_log=not args.no_access_log, limit_concurrency=args.max_connections,
                   ws_max_size=config.max_body_bytes, server_header=False)
    if args.workers == 1:  # load the model here: a missing model or detector exits with 2
        from ..service.app import create_app

        uvicorn.run(create_app(config), **options)
        return 0
    from ..detect import create_detector
    from ..runtime.weights import resolve_weights

    resolve_weights(config.model)  # fail before forking workers
    if config.detector:
        create_detector(config.detector)
    os.environ[CONFIG_ENV] = config.to_json()
    uvicorn.run("litefer.service.app:app_from_env", factory=True, workers=args.workers, **options)
    return 0
