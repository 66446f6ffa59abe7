"""A code whose message could not be delivered, as Authgear reports it: the step goes on, its data says
`delivery_status: failed` with the `delivery_error`, and a resend may follow at once. Over real SMTP:
an aiosmtpd server that rejects the first message and accepts the next."""

from __future__ import annotations

import email
import email.policy
import re
import secrets
import socket
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller

FLOWS = "/api/v1/authentication_flows"


class RejectFirst:
    """Rejects the first DATA with a permanent error, then accepts; keeps what it accepted."""

    def __init__(self) -> None:
        self.rejected = 0
        self.accepted: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if not self.rejected:
            self.rejected += 1
            return "554 5.7.1 message rejected"
        self.accepted.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def rejecting_smtp():
    handler = RejectFirst()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, handler
    controller.stop()


def _age_seconds(iso: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(iso.replace("Z", "+00:00"))).total_seconds()


@pytest.mark.embedded
def test_failed_delivery_is_reported_in_the_step_and_a_resend_goes_out_at_once(make_app, make_config, rejecting_smtp):
    controller, handler = rejecting_smtp
    secrets_ = {**make_config().secrets, "mail.smtp": {"host": "127.0.0.1", "port": controller.port, "mode": "normal"}}
    client = make_app(secrets=secrets_).test_client()
    address = f"undelivered-{secrets.token_hex(4)}@example.com"

    created = client.post(FLOWS, json={"type": "signup", "name": "default"}).get_json()["result"]
    sent = client.post(
        f"{FLOWS}/states/input",
        json={"state_token": created["state_token"], "input": {"identification": "email", "login_id": address}},
    )
    assert sent.status_code == 200, sent.get_json()
    data = sent.get_json()["result"]["action"]["data"]
    assert data["type"] == "verify_oob_otp_data" and data["delivery_status"] == "failed"
    assert data["delivery_error"]["name"] == "ServiceUnavailable"
    assert data["delivery_error"]["reason"] == "MessageDeliveryFailed"
    assert _age_seconds(data["can_resend_at"]) >= -1  # no cooldown: nothing was delivered
    assert handler.rejected == 1 and handler.accepted == []

    state = sent.get_json()["result"]["state_token"]
    resent = client.post(f"{FLOWS}/states/input", json={"state_token": state, "input": {"resend": True}})
    assert resent.status_code == 200, resent.get_json()
    data = resent.get_json()["result"]["action"]["data"]
    assert data["delivery_status"] == "sent" and "delivery_error" not in data
    assert _age_seconds(data["can_resend_at"]) < -30  # the cooldown of a delivered code runs
    assert len(handler.accepted) == 1
    code = re.search(r"(?<!\d)(\d{6})(?!\d)", handler.accepted[0].get_body(("plain",)).get_content()).group(1)
    state = resent.get_json()["result"]["state_token"]
    verified = client.post(f"{FLOWS}/states/input", json={"state_token": state, "input": {"code": code}})
    assert verified.status_code == 200
    assert verified.get_json()["result"]["action"]["type"] == "create_authenticator"


@pytest.mark.embedded
def test_the_code_page_says_the_message_was_not_sent(make_app, make_config, rejecting_smtp):
    from tests.web.test_pages_http import HTML, csrf_of, open_page

    controller, _ = rejecting_smtp
    secrets_ = {**make_config().secrets, "mail.smtp": {"host": "127.0.0.1", "port": controller.port, "mode": "normal"}}
    client = make_app(secrets=secrets_).test_client()
    url, page = open_page(client, "/signup")
    resp = client.post(
        url,
        data={
            "x_login_id": f"page-{secrets.token_hex(4)}@example.com",
            "csrf_token": csrf_of(page.get_data(as_text=True)),
        },
    )
    assert resp.status_code == 303 and "/authflow/v2/enter_oob_otp" in resp.headers["Location"]
    shown = client.get(resp.headers["Location"], headers=HTML).get_data(as_text=True)
    assert "We couldn&#39;t send the code." in shown or "We couldn't send the code." in shown
