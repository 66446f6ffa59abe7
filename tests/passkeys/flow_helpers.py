"""Driving the Authentication Flow API as a custom UI does."""

from __future__ import annotations

from typing import Any

FLOWS = "/api/v1/authentication_flows"
INPUT = FLOWS + "/states/input"


def start(client: Any, flow_type: str = "login") -> dict[str, Any]:
    resp = client.post(FLOWS, json={"type": flow_type, "name": "default"})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["result"]


def send(client: Any, state: dict[str, Any], inp: dict[str, Any], status: int = 200) -> dict[str, Any]:
    resp = client.post(INPUT, json={"state_token": state["state_token"], "input": inp})
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()
    return body["result"] if status == 200 else body["error"]


def option(state: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    return next(o for o in state["action"]["data"]["options"] if o.get(key) == value)


def sign_up(client: Any, username: str, password: str) -> dict[str, Any]:
    """A signup with a username and a password, up to the step after create_authenticator."""
    state = send(client, start(client, "signup"), {"identification": "username", "login_id": username})
    return send(client, state, {"authentication": "primary_password", "new_password": password})


def log_in_with_password(client: Any, username: str, password: str) -> dict[str, Any]:
    state = send(client, start(client), {"identification": "username", "login_id": username})
    return send(client, state, {"authentication": "primary_password", "password": password})
