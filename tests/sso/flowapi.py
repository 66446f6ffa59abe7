"""Helpers of the SSO tests: the Flow API over the test client, and the provider leg a browser or a
custom UI would make (following the authorization URL to the callback)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from tests.sso.standins import Standins

FLOWS = "/api/v1/authentication_flows"
INPUT = FLOWS + "/states/input"
REDIRECT_URI = "https://app.example.com/oauth-callback"


def create(client: Any, flow_type: str, name: str = "default") -> dict[str, Any]:
    resp = client.post(FLOWS, json={"type": flow_type, "name": name})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["result"]


def send(client: Any, state_token: str, inp: dict[str, Any]) -> Any:
    return client.post(INPUT, json={"state_token": state_token, "input": inp})


def ok(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["result"]


def error(resp: Any) -> dict[str, Any]:
    body = resp.get_json()
    assert "error" in body, body
    return body["error"]


def follow(standins: Standins, url: str) -> requests.Response:
    """The user's browser at the provider (through the same proxy and CA as the app)."""
    return requests.get(
        url,
        allow_redirects=False,
        proxies={"https": standins.proxy.url},
        verify=str(standins.ca),
        timeout=10,
    )


def callback_query(standins: Standins, url: str) -> str:
    """The query the provider sends the browser back with (`code`, `state`, or `error`)."""
    resp = follow(standins, url)
    assert resp.status_code == 302, resp.text
    return urlsplit(resp.headers["Location"]).query


def choose_provider(client: Any, token: str, alias: str, **extra: Any) -> dict[str, Any]:
    return ok(send(client, token, {"identification": "oauth", "alias": alias, "redirect_uri": REDIRECT_URI, **extra}))


def sign_in_with(client: Any, standins: Standins, flow_type: str, alias: str) -> dict[str, Any]:
    """A whole flow: create, choose the provider, let the provider answer, send its query."""
    start = create(client, flow_type)
    data = choose_provider(client, start["state_token"], alias)
    query = callback_query(standins, data["action"]["data"]["oauth_authorization_url"])
    return ok(send(client, data["state_token"], {"query": query}))
