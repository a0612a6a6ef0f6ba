"""WebSocket ``/v1/stream``: encoded camera frames in (binary messages), one JSON Result per
frame out, faces with ``track_id`` from one Tracker per connection.

Latest frame wins: frames that arrive while one is being analysed replace each other, so a
client that sends faster than the server keeps up sees fresh results, not a growing backlog;
``frame`` in each answer is the index of the frame received (gaps are dropped frames).
Authentication (when the server has a key): ``X-API-Key`` / ``Authorization: Bearer`` on the
handshake, or a first text message ``{"api_key": "KEY"}`` within AUTH_WAIT_S (what browsers can
do). A stream place is taken only once the client is authenticated, so connections that never
send the key cannot lock out one that does. Close codes: 1008 wrong or missing key or bad
option, 1013 too many streams.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ..errors import LiteferError
from ..types import Result
from ..video import Tracker
from .engine import Engine, Options, Overloaded, TimedOut
from .limits import UnsupportedImage, check_image_header, key_from_headers, key_matches

AUTH_WAIT_S = 10.0
router = APIRouter()


class _Latest:
    """A one-place mailbox: put replaces what is there; take waits; None after close."""

    def __init__(self):
        self.item, self.closed, self.event = None, False, asyncio.Event()

    def put(self, item) -> None:
        self.item = item
        self.event.set()

    def close(self) -> None:
        self.closed = True
        self.event.set()

    async def take(self):
        while self.item is None and not self.closed:
            self.event.clear()
            await self.event.wait()
        item, self.item = self.item, None
        return item


@router.websocket("/v1/stream")
async def stream(ws: WebSocket, detector: str | None = None, min_face: float = 0.0,
                 top_k: int = 0):
    engine: Engine = ws.app.state.engine
    await ws.accept()
    try:
        if not await _authorized(ws, engine.config.api_key):
            return await ws.close(1008, "missing or wrong API key")
    except WebSocketDisconnect:
        return
    if engine.streams >= engine.config.max_streams:
        return await ws.close(1013, f"too many streams (limit {engine.config.max_streams})")
    engine.streams += 1
    try:
        try:
            opts = engine.options(detector, min_face, min(max(0, top_k), engine.config.max_top_k))
        except ValueError as exc:
            return await ws.close(1008, str(exc)[:120])
        await _serve(ws, engine, opts)
    except WebSocketDisconnect:
        pass
    finally:
        engine.streams -= 1


async def _authorized(ws: WebSocket, api_key: str | None) -> bool:
    if api_key is None or key_matches(key_from_headers(dict(ws.headers)), api_key):
        return True
    try:
        message = await asyncio.wait_for(ws.receive_text(), AUTH_WAIT_S)
        return key_matches(str(json.loads(message).get("api_key", "")), api_key)
    except (asyncio.TimeoutError, ValueError, AttributeError, KeyError):
        return False


async def _serve(ws: WebSocket, engine: Engine, opts: Options) -> None:
    mailbox, tracker, start = _Latest(), Tracker(), time.monotonic()
    reader = asyncio.create_task(_read(ws, mailbox))
    try:
        while (item := await mailbox.take()) is not None:
            index, data = item
            result = await _frame(engine, data, index, time.monotonic() - start, tracker, opts)
            await ws.send_text(json.dumps(result.to_dict()))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _read(ws: WebSocket, mailbox: _Latest) -> None:
    index = 0
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes")
            data = data if data is not None else (message.get("text") or "").encode()
            mailbox.put((index, data))
            index += 1
    finally:
        mailbox.close()


async def _frame(engine: Engine, data: bytes, index: int, t: float, tracker: Tracker,
                 opts: Options) -> Result:
    """One frame -> Result; a bad frame or a busy server gives a Result with ``error`` set."""
    try:
        if len(data) > engine.config.max_body_bytes:
            raise UnsupportedImage(f"frame is {len(data)} bytes; the limit is "
                                   f"{engine.config.max_body_bytes} bytes")
        check_image_header(data, engine.config.max_image_pixels)
        with engine.admit() as ticket:
            return await engine.run(ticket, engine.track, data, index, t, tracker, opts)
    except TimedOut as exc:
        if exc.pending is not None:  # the tracker is this connection's: one frame at a time
            with contextlib.suppress(Exception):
                await exc.pending
        error = str(exc)
    except (Overloaded, UnsupportedImage, LiteferError) as exc:
        error = str(exc)
    return Result("<stream>", frame=index, time_s=t, error=error)
