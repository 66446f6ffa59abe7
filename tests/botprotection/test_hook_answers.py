"""Blocking hooks' `bot_protection` answers over the Authentication Flow API: the mode that
authentication.pre_initialize or authentication.post_identified answers replaces the branches' own
(Authgear's GetBotProtectionData reads the last milestone that gave one), against the stand-in
siteverify server."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.botprotection.conftest import bot_protection_config
from tests.botprotection.test_flow_api import CLOUDFLARE, _bp, _create, _input, _options, _user
from tests.factories import random_password
from tests.hooks.conftest import WEBHOOK_KEY, receiver  # noqa: F401 (fixture)


@pytest.fixture
def hooked_app(bp_app, make_config, standin, receiver):  # noqa: F811
    """`hooked_app(**requirements)`: bot protection on (with those requirements), and blocking
    handlers of pre_initialize (`/pre`) and post_identified (`/post`) on the receiver."""

    def build(**requirements: str) -> Any:
        secrets = dict(make_config().secrets)
        secrets["bot_protection.provider"] = {"type": "cloudflare", "secret_key": standin.secret}
        key = base64.urlsafe_b64encode(WEBHOOK_KEY).rstrip(b"=").decode()
        secrets["webhook"] = {"keys": [{"kid": "hook", "kty": "oct", "alg": "HS256", "k": key}]}
        hook = {
            "blocking_handlers": [
                {"event": "authentication.pre_initialize", "url": receiver.url("pre")},
                {"event": "authentication.post_identified", "url": receiver.url("post")},
            ]
        }
        return bp_app({**bot_protection_config(**requirements), "hook": hook}, secrets=secrets)

    return build


def _answer(mode: str | None) -> Any:
    body: dict[str, Any] = {"is_allowed": True}
    if mode is not None:
        body["bot_protection"] = {"mode": mode} if mode else {}
    return lambda event: (200, body)


def test_pre_initialize_always_asks_on_identify_where_no_requirement_does(hooked_app, receiver, standin):  # noqa: F811
    receiver.answers["pre"] = _answer("always")
    receiver.answers["post"] = _answer(None)  # no bot_protection: the earlier answer stands
    app = hooked_app()
    password = random_password()
    user = _user(app, password)
    client = app.test_client()
    created = _create(client, "login")
    assert _options(created)["email"]["bot_protection"] == CLOUDFLARE
    missing = _input(client, created["state_token"], {"identification": "email", "login_id": user})
    assert missing.status_code == 400
    assert missing.get_json()["error"]["reason"] == "ValidationFailed"
    assert standin.requests == []
    ok = _input(client, created["state_token"], {"identification": "email", "login_id": user, "bot_protection": _bp()})
    assert ok.status_code == 200, ok.get_json()
    result = ok.get_json()["result"]
    # Checked once per flow, as with a branch's own mode.
    assert "bot_protection" not in _options(result)["primary_password"]
    done = _input(client, result["state_token"], {"authentication": "primary_password", "password": password})
    assert done.get_json()["result"]["action"]["type"] == "finished"
    assert len(standin.requests) == 1
    assert [e["type"] for e in receiver.events["post"]] == ["authentication.post_identified"]


def test_never_then_always_follows_the_latest_answer(hooked_app, receiver, standin):  # noqa: F811
    receiver.answers["pre"] = _answer("never")
    receiver.answers["post"] = _answer("always")
    app = hooked_app(signup_or_login="always")
    password = random_password()
    user = _user(app, password)
    client = app.test_client()
    created = _create(client, "login")
    # pre_initialize's `never` overrides the project's signup_or_login: always.
    assert all("bot_protection" not in o for o in created["action"]["data"]["options"])
    resp = _input(client, created["state_token"], {"identification": "email", "login_id": user})
    assert resp.status_code == 200, resp.get_json()
    result = resp.get_json()["result"]
    # post_identified's `always` applies to the password step, which no requirement names.
    assert _options(result)["primary_password"]["bot_protection"] == CLOUDFLARE
    missing = _input(client, result["state_token"], {"authentication": "primary_password", "password": password})
    assert missing.status_code == 400
    done = _input(
        client,
        result["state_token"],
        {"authentication": "primary_password", "password": password, "bot_protection": _bp()},
    )
    assert done.get_json()["result"]["action"]["type"] == "finished"
    assert len(standin.requests) == 1


def test_an_answer_without_a_mode_turns_the_requirement_off(hooked_app, receiver, standin):  # noqa: F811
    receiver.answers["pre"] = _answer("")  # `bot_protection: {}`: Authgear's empty mode, no check
    receiver.answers["post"] = _answer(None)
    app = hooked_app(signup_or_login="always", password="always")
    password = random_password()
    user = _user(app, password)
    client = app.test_client()
    created = _create(client, "login")
    assert "bot_protection" not in _options(created)["email"]
    result = _input(client, created["state_token"], {"identification": "email", "login_id": user}).get_json()["result"]
    assert "bot_protection" not in _options(result)["primary_password"]
    done = _input(client, result["state_token"], {"authentication": "primary_password", "password": password})
    assert done.get_json()["result"]["action"]["type"] == "finished"
    assert standin.requests == []
