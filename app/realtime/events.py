"""A flow's websocket channel and its events (Authgear's authenticationflow WebsocketEventStore).

A waiting step (a login link's `verify_oob_otp_data`) owns a channel named `ws_` + 32 base32
characters; whatever changes the flow from elsewhere (the link approved in another browser) publishes
`{"kind": "refresh"}` on it, and every websocket open on the channel forwards it verbatim, as
Authgear's pubsub handler does. With Redis the event goes through Redis PUBLISH, so a websocket on
any web node (or granian worker) hears it; without Redis (the embedded default: one process) through
an in-process hub. Nothing is stored: a page that connects after the event asks the flow once on
connecting (static/web/login_link.js), as it would after a reload.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

from app.kvstore import RedisStore

WS_PATH = "/api/v1/authentication_flows/ws"  # Authgear's WebsocketEndpointV1
CHANNEL_RE = re.compile(r"ws_[A-Z2-7]{32}")
REFRESH = {"kind": "refresh"}  # Authgear's EventKindRefresh: re-fetch the flow's state


def valid_channel(channel: str | None) -> bool:
    return bool(channel) and CHANNEL_RE.fullmatch(channel) is not None  # type: ignore[arg-type]


def redis_channel(prefix: str, channel: str) -> str:
    """The Redis pubsub channel (Authgear: `app:<id>:authenticationflow-events:<channel>`), under the
    deployment's key prefix so that deployments sharing one Redis stay apart."""
    return f"{prefix}authenticationflow-events:{channel}"


class LocalHub:
    """Subscribers of this process: each an asyncio queue on its event loop. Publishing is
    thread-safe (the WSGI threads publish, the websocket loop listens)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[str]]]] = {}

    def publish(self, channel: str, payload: str) -> None:
        with self._lock:
            subs = list(self._subs.get(channel, ()))
        for loop, queue in subs:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, payload)
            except RuntimeError:  # the loop is closed: its subscriber is gone
                pass

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[asyncio.Queue[str]]:
        entry = (asyncio.get_running_loop(), asyncio.Queue[str]())
        with self._lock:
            self._subs.setdefault(channel, set()).add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                subs = self._subs.get(channel)
                if subs is not None:
                    subs.discard(entry)
                    if not subs:
                        del self._subs[channel]

    def subscribers(self, channel: str) -> int:
        with self._lock:
            return len(self._subs.get(channel, ()))


HUB = LocalHub()


def publish(store: Any, channel: str, event: dict[str, Any] | None = None) -> None:
    """Send `event` (default: refresh) to the channel's websockets, on every node."""
    if not valid_channel(channel):
        return
    payload = json.dumps(event or REFRESH, separators=(",", ":"))
    if isinstance(store, RedisStore):
        store.client.publish(redis_channel(store.prefix, channel), payload)
    else:
        HUB.publish(channel, payload)


def websocket_url(public_origin: str, channel: str) -> str:
    """Authgear's WebsocketURL: the origin with ws/wss for http/https, the endpoint's path and
    `?channel=`."""
    base = public_origin.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    return f"{base}{WS_PATH}?{urlencode({'channel': channel})}"
