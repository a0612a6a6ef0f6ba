"""Request limits outside the model: body size (413), API key (401), image header checks.

Both middlewares are plain ASGI so they act before FastAPI parses anything: an oversized body
is refused from its Content-Length or, when it is chunked, as soon as the bytes read pass the
limit; an unauthorised request is refused before its body is read at all.
"""
from __future__ import annotations

import hashlib
import hmac
import json

from starlette.exceptions import HTTPException

from ..errors import InvalidImageError
from ..io import header_size

SUPPORTED_FORMATS = ("jpeg", "png", "bmp", "webp")
PUBLIC_PATHS = ("/healthz", "/", "/favicon.ico")  # plus /static/: the page holds no data
KEY_HEADER = "x-api-key"


class UnsupportedImage(Exception):
    """Not an image format the service decodes (answered 415)."""


def check_image_header(data: bytes, max_pixels: int) -> tuple[str, int, int]:
    """(format, width, height) read from the header, before any pixel is decoded.

    Raises UnsupportedImage for anything but JPEG, PNG, BMP or WebP (whose size can be read
    from the header, so a decompression bomb is refused unopened) and InvalidImageError for an
    empty body or a declared size above ``max_pixels``.
    """
    if not data:
        raise InvalidImageError("empty body: send the bytes of a JPEG, PNG, BMP or WebP image")
    head = header_size(data)
    if head is None:
        raise UnsupportedImage("the body is not a JPEG, PNG, BMP or WebP image (no image header "
                               "found); send the image bytes themselves, not text, JSON or base64")
    fmt, w, h = head
    if w * h > max_pixels:
        raise InvalidImageError(f"the {fmt} header declares {w}x{h} pixels ({w * h / 1e6:.1f} MP); "
                                f"this server accepts at most {max_pixels / 1e6:.1f} MP")
    return head


def key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison (of digests, so the key's length does not leak either)."""
    if not given:
        return False
    a = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    b = hashlib.sha256(expected.encode("utf-8")).digest()
    return hmac.compare_digest(a, b)


def key_from_headers(headers: dict[str, str]) -> str | None:
    """The key from ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``."""
    if headers.get(KEY_HEADER):
        return headers[KEY_HEADER]
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def _send_json(send, status: int, detail: str, extra: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ApiKeyMiddleware:
    """401 on every HTTP route but PUBLIC_PATHS and /static/ unless the key matches.
    WebSocket routes check the key themselves (browsers cannot set headers on them)."""

    def __init__(self, app, api_key: str | None):
        self.app, self.api_key = app, api_key

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if (self.api_key is None or scope["type"] != "http" or path in PUBLIC_PATHS
                or path.startswith("/static/")):
            return await self.app(scope, receive, send)
        if key_matches(key_from_headers(_headers(scope)), self.api_key):
            return await self.app(scope, receive, send)
        await _send_json(send, 401, "missing or wrong API key: send it as 'X-API-Key: KEY' or "
                                    "'Authorization: Bearer KEY'",
                         [(b"www-authenticate", b"Bearer")])


class BodyLimitMiddleware:
    """413 for an HTTP body over ``max_bytes``, declared or streamed."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _headers(scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await _send_json(send, 413, self._message(int(declared)))
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # handled by FastAPI's HTTPException handler -> 413
                raise HTTPException(413, self._message(seen, streamed=True))
            return message

        await self.app(scope, limited_receive, send)

    def _message(self, size: int, streamed: bool = False) -> str:
        what = "at least " if streamed else ""
        return (f"request body is {what}{size} bytes; the limit is {self.max_bytes} bytes "
                f"({self.max_bytes / 2**20:.1f} MiB)")
