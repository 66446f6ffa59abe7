"""The application granian serves (`gatehouse serve`, production): RSGI, granian's native async
interface, because its WSGI interface cannot carry websockets.

- `GET /api/v1/authentication_flows/ws?channel=ws_...` (Authgear's WebsocketEndpointV1) is a
  websocket handled here, in asyncio, without a thread: it forwards the channel's events
  (`{"kind": "refresh"}`) and discards whatever the client sends.
- Every other request goes to the Flask app, unchanged, as a WSGI call on a pool of threads (the
  `blocking_threads` granian's WSGI interface would use): the environ is PEP 3333's, the body is
  read before the call (a declared body above the app's limit is not read: Flask answers 413), and
  the answer is sent at once when the app returns a list (every Flask response but send_file),
  streamed chunk by chunk otherwise.

As in Authgear's pubsub handler, a browser's `Origin` must be the public origin, the request's own
host or one of `http.allowed_origins` (403 otherwise); clients without `Origin` (native apps) pass.
An unknown or malformed channel is refused (400) before the upgrade. A socket lives at most
`MAX_LIFETIME_SECONDS` and is then closed with 1001 (going away): Authgear's page script reconnects
on any close but 1000.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

from granian.rsgi import ProtocolClosed, WebsocketMessageType

from app.realtime import events

log = logging.getLogger("gatehouse.realtime")

WS_PATH = events.WS_PATH
MAX_LIFETIME_SECONDS = 600.0
DEFAULT_THREADS = 16
_NO_BODY = ("GET", "HEAD", "OPTIONS", "DELETE")
_SPECIAL = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


class GatehouseServer:
    """RSGI application around the Flask (WSGI) app."""

    def __init__(self, wsgi_app: Any, threads: int = DEFAULT_THREADS) -> None:
        self.app = wsgi_app
        self.threads = threads
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="wsgi")
        svc = wsgi_app.extensions["gatehouse"]
        self.config = svc.config
        self.store = svc.store
        self.max_body = int(wsgi_app.config.get("MAX_CONTENT_LENGTH") or 0) or None
        self._redis: Any = None

    # -- RSGI entry points ----------------------------------------------------------------------
    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        pass

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.proto == "ws":
            await self._websocket(scope, protocol)
        else:
            await self._http(scope, protocol)

    # -- HTTP: the WSGI app on a thread ---------------------------------------------------------
    async def _http(self, scope: Any, protocol: Any) -> None:
        environ = self._environ(scope)
        length = environ.get("CONTENT_LENGTH", "")
        declared = int(length) if length.isdigit() else None
        if scope.method not in _NO_BODY or declared or "HTTP_TRANSFER_ENCODING" in environ:
            if declared is None or self.max_body is None or declared <= self.max_body:
                body = await self._body(protocol)
                environ["wsgi.input"] = io.BytesIO(body)
                environ["wsgi.input_terminated"] = True  # werkzeug reads a chunked body only then
                if declared is None:
                    environ["CONTENT_LENGTH"] = str(len(body))
        loop = asyncio.get_running_loop()
        status, headers, first, rest = await loop.run_in_executor(self.executor, self._call, environ)
        if rest is None:
            protocol.response_bytes(status, headers, first)
            return
        transport = protocol.response_stream(status, headers)
        try:
            if first:
                await transport.send_bytes(first)
            while True:
                chunk = await loop.run_in_executor(self.executor, _next_chunk, rest)
                if chunk is None:
                    break
                await transport.send_bytes(chunk)
        except ProtocolClosed:  # the client went away mid-answer
            pass
        finally:
            close = getattr(rest, "close", None)
            if close is not None:
                await loop.run_in_executor(self.executor, close)

    async def _body(self, protocol: Any) -> bytes:
        """The request body; a chunked one only up to just past the app's limit (Flask then answers
        413 from the length), so that no body is held in memory beyond it."""
        if self.max_body is None:
            return await protocol()
        chunks, size = [], 0
        async for chunk in protocol:
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_body:
                break
        return b"".join(chunks)

    def _environ(self, scope: Any) -> dict[str, Any]:
        host, _, port = scope.server.rpartition(":")
        client_host = scope.client.rpartition(":")[0].strip("[]") if scope.client else ""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": scope.method,
            "SCRIPT_NAME": "",
            # PEP 3333: the path's bytes as latin-1 characters
            "PATH_INFO": scope.path.encode("utf-8", "surrogateescape").decode("latin-1"),
            "QUERY_STRING": scope.query_string,
            "SERVER_NAME": host.strip("[]") or "localhost",
            "SERVER_PORT": port or "80",
            "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
            "REMOTE_ADDR": client_host,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.scheme,
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        for name, value in scope.headers.items():
            key = _SPECIAL.get(name) or "HTTP_" + name.upper().replace("-", "_")
            if key in environ and key.startswith("HTTP_"):
                environ[key] += ("; " if key == "HTTP_COOKIE" else ", ") + value
            else:
                environ[key] = value
        return environ

    def _call(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes, Iterator[bytes] | None]:
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [int(status[:3]), headers]
            return written.append

        result: Iterable[bytes] = self.app(environ, start_response)
        if isinstance(result, (list, tuple)):
            return started[0], started[1], b"".join(written) + b"".join(result), None
        iterator = iter(result)
        first = b"".join(written)
        chunk = _next_chunk(iterator)  # the app calls start_response at the latest with its first chunk
        if chunk is None:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            return started[0], started[1], first, None
        return started[0], started[1], first + chunk, _Closing(iterator, result)

    # -- the flow websocket ---------------------------------------------------------------------
    async def _websocket(self, scope: Any, protocol: Any) -> None:
        if scope.path != WS_PATH:
            protocol.close(404)
            return
        origin = scope.headers.get("origin")
        if origin and not self._origin_allowed(origin, scope.headers.get("host") or scope.authority or ""):
            protocol.close(403)
            return
        channel = (parse_qs(scope.query_string).get("channel") or [""])[0]
        if not events.valid_channel(channel):
            protocol.close(400)
            return
        transport = await protocol.accept()
        reader = asyncio.ensure_future(_drain(transport))
        try:
            async with self._subscription(channel) as next_event:
                while True:
                    waiter = asyncio.ensure_future(next_event())
                    done, _ = await asyncio.wait({reader, waiter}, timeout=MAX_LIFETIME_SECONDS,
                                                 return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                    if waiter not in done:
                        waiter.cancel()
                        break
                    await transport.send_str(waiter.result())
        except Exception:  # a peer gone mid-send, Redis unreachable: close the socket, keep serving
            log.debug("flow websocket closed on error", exc_info=True)
        client_gone = reader.done()
        reader.cancel()
        protocol.close(1000 if client_gone else 1001)

    def _origin_allowed(self, origin: str, host: str) -> bool:
        allowed = {self.config.public_origin, *self.config.project["http"].get("allowed_origins", [])}
        return origin in allowed or (bool(host) and urlsplit(origin).netloc == host)

    def _subscription(self, channel: str) -> Any:
        if self.config.redis_url and isinstance(self.store, events.RedisStore):
            return _RedisSubscription(self, channel)
        return _LocalSubscription(channel)

    def redis(self) -> Any:
        if self._redis is None:
            import redis.asyncio

            timeout = self.config.redis_timeout or None
            self._redis = redis.asyncio.Redis.from_url(self.config.redis_url, socket_connect_timeout=timeout)
        return self._redis


class _LocalSubscription:
    def __init__(self, channel: str) -> None:
        self._cm = events.HUB.subscribe(channel)

    async def __aenter__(self) -> Callable[[], Any]:
        queue = await self._cm.__aenter__()
        return queue.get

    async def __aexit__(self, *exc: Any) -> None:
        await self._cm.__aexit__(*exc)


class _RedisSubscription:
    def __init__(self, server: GatehouseServer, channel: str) -> None:
        self.name = events.redis_channel(server.store.prefix, channel)
        self.pubsub = server.redis().pubsub(ignore_subscribe_messages=True)

    async def __aenter__(self) -> Callable[[], Any]:
        await self.pubsub.subscribe(self.name)

        async def next_event() -> str:
            while True:
                message = await self.pubsub.get_message(timeout=None)
                if message and message.get("type") == "message":
                    data = message["data"]
                    return data.decode() if isinstance(data, bytes) else data

        return next_event

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.pubsub.aclose()
        except Exception:  # noqa: S110 (the connection is being dropped anyway)
            pass


async def _drain(transport: Any) -> None:
    """Read and discard the client's messages (Authgear does the same) until it closes."""
    while True:
        message = await transport.receive()
        if message.kind == WebsocketMessageType.close:
            return


class _Closing:
    """The rest of a streamed WSGI answer, closed (PEP 3333) once sent or abandoned."""

    def __init__(self, iterator: Iterator[bytes], result: Any) -> None:
        self.iterator, self.result = iterator, result

    def __iter__(self) -> Iterator[bytes]:
        return self.iterator

    def __next__(self) -> bytes:
        return next(self.iterator)

    def close(self) -> None:
        close = getattr(self.result, "close", None)
        if close is not None:
            close()


def _next_chunk(iterator: Iterator[bytes]) -> bytes | None:
    for chunk in iterator:
        if chunk:
            return chunk
    return None


def create_server_app() -> GatehouseServer:
    """granian's factory (`--interface rsgi --factory app.realtime.server:create_server_app`)."""
    from app import create_app

    return GatehouseServer(create_app())
