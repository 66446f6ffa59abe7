"""The Authentication Flow websocket (Authgear's `GET /api/v1/authentication_flows/ws?channel=ws_...`)
as `make run` serves it (granian, RSGI: app/realtime/server.py): a login link's step names it in
`websocket_url`; approving the link in another browser sends `{"kind": "refresh"}` on it, without
Redis (one process) and through Redis PUBLISH; the waiting page moves on by itself in a real browser.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from app.kvstore import RedisStore
from app.realtime import events
from tests.factories import make_user, random_email
from tests.links.served import WebSocket, create_user, served
from tests.links.test_login_links import LINK_PROJECT, _start_login

LINK_ONLY = {**LINK_PROJECT, "authentication": {**LINK_PROJECT["authentication"], "secondary_authenticators": []}}
CHANNEL = "ws_" + "A" * 32


def test_a_link_step_names_its_websocket(flow_app, smtp_server):
    app = flow_app(LINK_PROJECT)
    address = random_email()
    with app.app_context():
        make_user(app.extensions["gatehouse"], email=address)
    data = _start_login(app.test_client(), address)["action"]["data"]
    origin = app.extensions["gatehouse"].config.public_origin
    url = urlsplit(data["websocket_url"])
    assert url.scheme == ("wss" if origin.startswith("https") else "ws") and url.netloc == urlsplit(origin).netloc
    assert url.path == "/api/v1/authentication_flows/ws"
    (channel,) = parse_qs(url.query)["channel"]
    assert re.fullmatch(r"ws_[A-Z2-7]{32}", channel)


def test_websocket_url_follows_the_scheme():
    assert events.websocket_url("https://auth.example.com", CHANNEL) == (
        f"wss://auth.example.com/api/v1/authentication_flows/ws?channel={CHANNEL}"
    )
    assert events.websocket_url("http://localhost:3000/", CHANNEL).startswith("ws://localhost:3000/api/")


@pytest.fixture
def link_server(tmp_path: Path):
    with served(tmp_path, LINK_ONLY) as server:
        yield server


def _latest_link(config_dir: Path, path: str = "/authflow/v2/verify_login_link") -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for f in sorted((config_dir / "outbox").glob("*"), key=os.path.getmtime, reverse=True):
            msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
            text = msg.get_body(("plain",)).get_content()
            found = re.search(r"https?://[^\s\"<>]+" + re.escape(path) + r"\?code=[A-Z2-7]+", text)
            if found:
                return found.group(0)
        time.sleep(0.2)
    raise AssertionError("no link in the outbox")


@pytest.mark.embedded
def test_the_websocket_refuses_what_authgear_refuses(link_server):
    base = link_server["origin"].replace("http://", "ws://") + "/api/v1/authentication_flows/ws"
    assert WebSocket(f"{base}?channel=bad").status == 400
    assert WebSocket(f"{base}?channel={CHANNEL}", origin="https://evil.example").status == 403
    assert WebSocket(base.replace("/ws", "/nope") + f"?channel={CHANNEL}").status == 404
    for origin in (None, link_server["public_origin"], link_server["origin"]):  # no Origin: a native app
        ws = WebSocket(f"{base}?channel={CHANNEL}", origin=origin)
        assert ws.status == 101
        ws.close()


@pytest.mark.embedded
def test_the_browser_waiting_for_a_link_moves_on_when_another_browser_opens_it(link_server, context_factory):
    """Without Redis: the approval in one request thread reaches the socket through the process's hub."""
    origin = link_server["public_origin"]
    email = random_email()
    create_user(link_server, email)
    waiting = context_factory().new_page()
    frames: list[str] = []
    waiting.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    waiting.goto(origin + "/login")
    waiting.fill("input[name=x_login_id]", email)
    waiting.locator("form button[type=submit]").first.click()
    waiting.wait_for_url(re.compile(r"/authflow/v2/oob_otp_link"))
    form = waiting.locator("[data-login-link-form]")
    assert form.get_attribute("data-websocket-url").startswith(origin.replace("http://", "ws://"))

    other = context_factory().new_page()  # a second browser: the mail opened on another device
    other.goto(_latest_link(link_server["config_dir"]))
    other.locator("form button[type=submit]").first.click()
    other.wait_for_url(re.compile(r"state=matched"))

    waiting.wait_for_url(lambda url: "/authflow/v2/oob_otp_link" not in url, timeout=10_000)
    assert frames and json.loads(frames[0]) == {"kind": "refresh"}


def test_with_redis_the_event_goes_through_publish(tmp_path: Path):
    url = os.environ.get("GATEHOUSE_TEST_REDIS", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis is not running")
    prefix = f"gatehouse-wstest-{os.getpid()}:"
    with served(tmp_path, LINK_ONLY, {"REDIS_URL": url, "GATEHOUSE_REDIS_PREFIX": prefix}) as server:
        base = server["origin"].replace("http://", "ws://")
        sockets = [WebSocket(events.websocket_url(base, CHANNEL)) for _ in range(2)]  # two watchers
        assert [ws.status for ws in sockets] == [101, 101]
        deadline = time.monotonic() + 5
        name = events.redis_channel(prefix, CHANNEL)
        while client.pubsub_numsub(name)[0][1] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        events.publish(RedisStore(client, prefix), CHANNEL)  # as another node approving the link would
        for ws in sockets:
            assert ws.receive() == (1, b'{"kind":"refresh"}')
            ws.close()
        # another deployment's prefix reaches nobody here
        quiet = WebSocket(events.websocket_url(base, CHANNEL), timeout=1)
        events.publish(RedisStore(client, "other:"), CHANNEL)
        with pytest.raises(TimeoutError):
            quiet.receive()
        quiet.close()


@pytest.mark.embedded
def test_the_flask_app_behind_rsgi_reads_bodies_as_under_wsgi(link_server):
    """Every other request reaches the Flask app unchanged: a chunked body, an oversized one (413
    unread), cookies and query strings."""
    import http.client

    port = link_server["port"]
    body = json.dumps({"type": "login", "name": "default"}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("POST", "/api/v1/authentication_flows")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    resp = conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read())["result"]["state_token"].startswith("authflowstate_")
    conn.close()

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("POST", "/api/v1/authentication_flows")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(2 * 1024 * 1024))
    conn.endheaders()  # the body is never sent: the answer comes without it
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/login?ui_locales=ja", headers={"Cookie": "a=1", "Accept-Language": "en"})
    resp = conn.getresponse()
    assert resp.status in (200, 302, 303) and resp.getheader("server") == "granian"
    conn.close()
