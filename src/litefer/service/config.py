"""ServiceConfig: every limit and choice of the HTTP service, one frozen dataclass (no FastAPI)."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace

CONFIG_ENV = "LITEFER_SERVE_CONFIG"  # JSON handed from `litefer serve` to worker processes
API_KEY_ENV = "LITEFER_API_KEY"


@dataclass(frozen=True)
class ServiceConfig:
    """model: shipped name or .onnx path (None: package default), chosen by the operator only;
    detector: backend name (None: the library default); detect_size: longest side detection
    runs at (None: the backend's default); threads: inference threads, each with its own
    detector (one shared ONNX session, one intra-op thread per call); queue: requests allowed
    to wait for a thread, beyond that 429; timeout_s: per request, from arrival to answer (408
    while the body is still arriving, 504 after);
    max_body_bytes: request body or WebSocket message (413); max_image_pixels: width x height
    declared by the image header, checked before decoding (422); decode_pixels: images are
    decoded down to about this many pixels (JPEG inside libjpeg); max_streams: concurrent
    WebSocket streams (close 1013 beyond); api_key: required on every route but /healthz and
    the static page, None for none."""

    model: str | None = None
    detector: str | None = None
    detect_size: int | None = None
    threads: int = 2
    queue: int = 2
    timeout_s: float = 10.0
    max_body_bytes: int = 8 * 1024 * 1024
    max_image_pixels: int = 16_000_000
    decode_pixels: int = 4_000_000
    max_streams: int = 4
    max_top_k: int = 100
    api_key: str | None = None

    def __post_init__(self):
        positive = {"threads": self.threads, "timeout_s": self.timeout_s,
                    "max_body_bytes": self.max_body_bytes,
                    "max_image_pixels": self.max_image_pixels,
                    "decode_pixels": self.decode_pixels, "max_streams": self.max_streams}
        bad = [f"{k}={v}" for k, v in positive.items() if not v > 0]
        if self.queue < 0:
            bad.append(f"queue={self.queue}")
        if bad:
            raise ValueError(f"ServiceConfig: must be positive (queue >= 0): {', '.join(bad)}")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("ServiceConfig: api_key is empty; pass None for no key")

    @property
    def capacity(self) -> int:
        """Requests admitted at once (running + waiting); the next one gets 429."""
        return self.threads + self.queue

    def with_(self, **changes) -> "ServiceConfig":
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> "ServiceConfig":
        """The config `litefer serve` put in $LITEFER_SERVE_CONFIG (defaults when unset);
        $LITEFER_API_KEY fills api_key when the JSON has none."""
        data = json.loads(os.environ.get(CONFIG_ENV) or "{}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if not known.get("api_key") and os.environ.get(API_KEY_ENV):
            known["api_key"] = os.environ[API_KEY_ENV]
        return cls(**known)
