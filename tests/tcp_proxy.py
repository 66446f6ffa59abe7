"""A small threaded TCP proxy for outage tests: put it in front of PostgreSQL or Redis and switch
what the app sees.

- `forward`: bytes go both ways, as if the proxy were not there.
- `blackhole`: connections stay open, client bytes are read and dropped, nothing ever comes back;
  new connections are accepted the same way (a hung server, or a network path that swallows packets).
- `refuse`: every open connection is closed and new ones are refused (the server is down).

Switching modes closes connections that cannot go on in the new mode (a black-holed connection has
lost bytes, so going back to `forward` closes it).
"""

from __future__ import annotations

import selectors
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import redis

Mode = Literal["forward", "blackhole", "refuse"]


class TCPProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "forward"
        self.port = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._pipes: set[_Pipe] = set()
        self._closed = False

    def __enter__(self) -> TCPProxy:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._listen()

    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            previous, self.mode = self.mode, mode
            pipes = list(self._pipes)
        if mode == "refuse":
            self._stop_listening()
        for pipe in pipes:
            if mode == "refuse" or (mode == "forward" and previous == "blackhole"):
                pipe.close()
            else:
                pipe.mode = mode
        if mode != "refuse" and self._listener is None:
            self._listen()

    def close(self) -> None:
        self._closed = True
        self._stop_listening()
        with self._lock:
            pipes = list(self._pipes)
        for pipe in pipes:
            pipe.close()

    @property
    def url_netloc(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))  # the same port again after `refuse`
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="tcp-proxy-accept", daemon=True).start()

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            except OSError:
                pass
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = None
            if self.mode == "forward":
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
            pipe = _Pipe(self, client, upstream, self.mode)
            with self._lock:
                self._pipes.add(pipe)
            threading.Thread(target=pipe.run, name="tcp-proxy-pipe", daemon=True).start()

    def _forget(self, pipe: _Pipe) -> None:
        with self._lock:
            self._pipes.discard(pipe)


class _Pipe:
    def __init__(self, proxy: TCPProxy, client: socket.socket, upstream: socket.socket | None, mode: Mode) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.mode = mode
        self._closed = threading.Event()

    def run(self) -> None:
        sel = selectors.DefaultSelector()
        peers = {self.client: self.upstream}
        if self.upstream is not None:
            peers[self.upstream] = self.client
        for sock in peers:
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
        try:
            while not self._closed.is_set():
                for key, _ in sel.select(timeout=0.05):
                    sock = key.fileobj
                    try:
                        data = sock.recv(65536)  # type: ignore[union-attr]
                    except BlockingIOError:
                        continue
                    except OSError:
                        return
                    if not data:
                        return
                    peer = peers[sock]  # type: ignore[index]
                    if self.mode == "forward" and peer is not None:
                        peer.setblocking(True)
                        peer.sendall(data)
                        peer.setblocking(False)
                    # blackhole: read and dropped, never answered
        except (OSError, ValueError):  # closed under us by `close`
            return
        finally:
            sel.close()
            self.close()

    def close(self) -> None:
        self._closed.set()
        for sock in (self.client, self.upstream):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        self.proxy._forget(self)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def throwaway_redis() -> Iterator[int]:
    """A redis-server of the test's own on a free port (never the shared one), stopped at the end."""
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 (fixed arguments)
        ["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)
