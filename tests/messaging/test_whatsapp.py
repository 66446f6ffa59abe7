"""WhatsApp codes as Authgear sends them, over the Flow API: a phone login under `phone_otp_mode`
whatsapp / whatsapp_sms sends its code to Cloud API or on-premises stand-ins at their real hosts, in
their real formats; refusals and the Cloud API's status webhook become the step's `delivery_status` and
`delivery_error` with Authgear's errors (pkg/lib/infra/whatsapp)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

import pytest

from app.config import ConfigError
from app.extensions import db
from tests.messaging.standins import Standins

FLOWS = "/api/v1/authentication_flows"
PHONE_NUMBER_ID = "1234567890"
TOKEN = "EAAG-cloud-api-token"
CLOUD = {
    "phone_number_id": PHONE_NUMBER_ID,
    "access_token": TOKEN,
    "authentication_template": {
        "type": "copy_code_button",
        "copy_code_button": {"name": "auth_code", "languages": ["en_US", "zh_HK"]},
    },
}
ON_PREMISES = {
    "api_endpoint": "https://whatsapp.example.com",
    "username": "gatehouse",
    "password": "on-prem-password",
    "templates": {"otp": {"name": "otp_template", "type": "authentication", "namespace": "ns-1", "languages": ["en"]}},
}


def _project(mode: str = "whatsapp", api_type: str = "cloud-api", **whatsapp: Any) -> dict[str, Any]:
    return {
        "authentication": {"primary_authenticators": ["password", "oob_otp_sms"]},
        "authenticator": {"oob_otp": {"sms": {"phone_otp_mode": mode}}},
        "messaging": {"whatsapp": {"api_type": api_type, **whatsapp}},
        "localization": {"fallback_language": "en", "supported_languages": ["en", "zh-HK"]},
    }


def _phone() -> str:
    return "+8525100" + "".join(secrets.choice("0123456789") for _ in range(4))


class Flow:
    def __init__(self, client: Any) -> None:
        self.client, self.token = client, None

    def create(self) -> dict[str, Any]:
        return self._handle(self.client.post(FLOWS, json={"type": "login", "name": "default"}))

    def send(self, inp: dict[str, Any], token: str | None = None, status: int = 200, **kw: Any) -> dict[str, Any]:
        body = {"state_token": token or self.token, "input": inp}
        return self._handle(self.client.post(f"{FLOWS}/states/input", json=body, **kw), status)

    def state(self) -> dict[str, Any]:
        return self._handle(self.client.post(f"{FLOWS}/states", json={"state_token": self.token}))

    def _handle(self, resp: Any, status: int = 200) -> dict[str, Any]:
        body = resp.get_json()
        assert resp.status_code == status, body
        if status != 200:
            return body["error"]
        self.token = body["result"]["state_token"]
        return body["result"]


def _login_to_code(app: Any, mode: str = "whatsapp", channel: str | None = None, **kw: Any) -> tuple[Flow, dict]:
    phone = _phone()
    with app.app_context():
        app.extensions["gatehouse"].users.create_user([("phone", phone)])
        db.session.commit()
    flow = Flow(app.test_client())
    flow.create()
    result = flow.send({"identification": "phone", "login_id": phone})
    options = result["action"]["data"]["options"]
    index = next(i for i, o in enumerate(options) if o["authentication"] == "primary_oob_otp_sms")
    result = flow.send({"authentication": "primary_oob_otp_sms", "index": index}, **kw)
    if channel is not None:
        flow.before_channel = flow.token  # type: ignore[attr-defined]
        result = flow.send({"channel": channel}, **kw)
    flow.phone = phone  # type: ignore[attr-defined]
    return flow, result


@pytest.fixture
def cloud(standins: Standins) -> Standins:
    standins.whatsapp_tokens.add(TOKEN)
    return standins


def test_cloud_api_sends_the_authentication_template_and_the_code_logs_in(provider_app, cloud):
    app = provider_app({"whatsapp.cloud-api": CLOUD}, _project())
    flow, result = _login_to_code(app, headers={"Accept-Language": "zh-HK"})
    data = result["action"]["data"]
    assert (data["type"], data["channel"], data["delivery_status"]) == ("verify_oob_otp_data", "whatsapp", "sent")
    assert "delivery_error" not in data

    (sent,) = cloud.to("graph.facebook.com")
    assert sent.path == f"/v22.0/{PHONE_NUMBER_ID}/messages"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Content-Type"] == "application/json"
    body = sent.json
    code = body["template"]["components"][0]["parameters"][0]["text"]
    assert len(code) == 6 and code.isdigit()
    assert body == {
        "biz_opaque_callback_data": "",
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": flow.phone,  # type: ignore[attr-defined]
        "type": "template",
        "template": {
            "name": "auth_code",
            "language": {"policy": "deterministic", "code": "zh_HK"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": code}]},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": code}]},
            ],
        },
    }
    assert any(t.startswith("graph.facebook.com:443") for t in cloud.proxy.seen)
    assert flow.send({"code": code})["action"]["type"] == "finished"


def test_the_template_language_falls_back_to_its_first(provider_app, cloud):
    app = provider_app({"whatsapp.cloud-api": CLOUD}, _project())
    _login_to_code(app, headers={"Accept-Language": "fr"})
    assert cloud.to("graph.facebook.com")[0].json["template"]["language"]["code"] == "en_US"


def test_whatsapp_sms_asks_first_and_either_channel_delivers(provider_app, cloud, sms_webhook):
    app = provider_app({"whatsapp.cloud-api": CLOUD, **sms_webhook.secret}, _project("whatsapp_sms"))
    flow, result = _login_to_code(app, "whatsapp_sms")
    assert result["action"]["data"]["type"] == "select_oob_otp_channels_data"
    assert result["action"]["data"]["channels"] == ["whatsapp", "sms"]
    chosen = flow.send({"channel": "whatsapp"})
    assert chosen["action"]["data"]["channel"] == "whatsapp" and chosen["action"]["data"]["delivery_status"] == "sent"
    assert len(cloud.to("graph.facebook.com")) == 1 and sms_webhook.requests == []


def test_without_a_client_the_code_step_says_no_available_whatsapp_client(provider_app, standins, sms_webhook):
    # cloud-api chosen, only the on-premises secret present
    app = provider_app({"whatsapp.on-premises": ON_PREMISES, **sms_webhook.secret}, _project("whatsapp_sms"))
    flow, result = _login_to_code(app, "whatsapp_sms", channel="whatsapp")
    data = result["action"]["data"]
    assert data["delivery_status"] == "failed"
    assert data["delivery_error"] == {
        "name": "BadRequest",
        "reason": "NoAvailableWhatsappClient",
        "message": "no available whatsapp client",
        "code": 400,
    }
    assert standins.requests == []
    # The state before the choice still offers SMS.
    by_sms = flow.send({"channel": "sms"}, token=flow.before_channel)  # type: ignore[attr-defined]
    assert by_sms["action"]["data"]["channel"] == "sms" and by_sms["action"]["data"]["delivery_status"] == "sent"
    assert flow.send({"code": sms_webhook.last_code(flow.phone)})["action"]["type"] == "finished"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "status,body,reason",
    [
        (
            400,
            {"error": {"message": "(#131026) Message undeliverable", "type": "OAuthException", "code": 131026}},
            "InvalidWhatsappUser",
        ),
        (
            400,
            {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}},
            "UnexpectedError",
        ),
        (502, b"<html>Bad Gateway</html>", "UnexpectedError"),
    ],
)
def test_cloud_api_refusals(provider_app, cloud, status, body, reason):
    app = provider_app({"whatsapp.cloud-api": CLOUD}, _project())
    cloud.script["graph.facebook.com"] = (status, body)
    data = _login_to_code(app)[1]["action"]["data"]
    assert data["delivery_status"] == "failed"
    assert data["delivery_error"]["reason"] == reason
    assert data["delivery_error"]["name"] == ("BadRequest" if reason == "InvalidWhatsappUser" else "InternalError")
    assert "info" not in data["delivery_error"]


def test_a_wrong_access_token_is_unexpected_error_and_a_resend_may_follow_at_once(provider_app, standins):
    app = provider_app({"whatsapp.cloud-api": {**CLOUD, "access_token": "revoked"}}, _project())
    flow, result = _login_to_code(app)
    data = result["action"]["data"]
    assert data["delivery_error"] == {
        "name": "InternalError",
        "reason": "UnexpectedError",
        "message": "unexpected error occurred",
        "code": 500,
    }
    assert flow.send({"resend": True})["action"]["data"]["delivery_status"] == "failed"
    assert len(standins.to("graph.facebook.com")) == 2


# -- the Cloud API's status webhook ------------------------------------------------------------------
WEBHOOK = {"verify_token": "verify-me", "app_secret": "meta-app-secret"}


def _notify(client: Any, message_id: str, status: str, errors: list[dict[str, Any]] | None = None, **kw: Any) -> Any:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550001111",
                                "phone_number_id": kw.get("phone_number_id", PHONE_NUMBER_ID),
                            },
                            "statuses": [
                                {
                                    "id": message_id,
                                    "status": status,
                                    "timestamp": "1700000000",
                                    "recipient_id": "85251000000",
                                    **({"errors": errors} if errors else {}),
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(payload).encode()
    secret = kw.get("secret", WEBHOOK["app_secret"]).encode()
    signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return client.post(
        "/whatsapp/webhook", data=body, headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"}
    )


def _scripted_send(standins: Standins) -> str:
    """The stand-in answers the next send with a message ID the test knows."""
    message_id = "wamid." + secrets.token_hex(8)
    standins.script["graph.facebook.com"] = (
        200,
        {"messaging_product": "whatsapp", "messages": [{"id": message_id, "message_status": "accepted"}]},
    )
    return message_id


def test_with_a_webhook_the_status_comes_from_meta(provider_app, cloud):
    app = provider_app({"whatsapp.cloud-api": {**CLOUD, "webhook": WEBHOOK}}, _project())
    message_id = _scripted_send(cloud)
    flow, result = _login_to_code(app)
    assert result["action"]["data"]["delivery_status"] == "sending"
    client = app.test_client()
    # Meta's subscription check
    assert client.get("/whatsapp/webhook?hub.challenge=1158201444&hub.verify_token=verify-me").data == b"1158201444"
    assert client.get("/whatsapp/webhook?hub.verify_token=wrong").status_code == 400
    # Unsigned, wrongly signed, or for another phone number: nothing changes.
    assert client.post("/whatsapp/webhook", data=b"{}").status_code == 400
    assert _notify(client, message_id, "failed", secret="other").status_code == 401
    assert _notify(client, message_id, "delivered", phone_number_id="999").status_code == 200
    assert flow.state()["action"]["data"]["delivery_status"] == "sending"

    assert _notify(client, message_id, "sent").status_code == 200
    assert flow.state()["action"]["data"]["delivery_status"] == "sent"
    errors = [{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable"}]
    assert _notify(client, message_id, "failed", errors).status_code == 200
    data = flow.state()["action"]["data"]
    assert data["delivery_status"] == "failed"
    assert data["delivery_error"] == {
        "name": "BadRequest",
        "reason": "WhatsappUndeliverable",
        "message": "whatsapp undeliverable",
        "code": 400,
    }
    _notify(client, message_id, "failed", [{"code": 131047, "title": "Re-engagement message"}])
    assert flow.state()["action"]["data"]["delivery_error"]["reason"] == "UnexpectedWhatsappMessageStatusError"


def test_no_status_within_the_timeout_is_callback_timeout(provider_app, cloud):
    app = provider_app(
        {"whatsapp.cloud-api": {**CLOUD, "webhook": WEBHOOK}}, _project(message_sent_callback_timeout="0s")
    )
    message_id = _scripted_send(cloud)
    flow, result = _login_to_code(app)
    data = result["action"]["data"]
    assert data["delivery_status"] == "failed"
    assert data["delivery_error"]["reason"] == "WhatsappMessageStatusCallbackTimeout"
    # A status arriving later replaces the timeout, as in Authgear's message store.
    _notify(app.test_client(), message_id, "delivered")
    assert flow.state()["action"]["data"]["delivery_status"] == "sent"


def test_without_a_webhook_secret_the_webhook_is_not_found(provider_app, cloud):
    client = provider_app({"whatsapp.cloud-api": CLOUD}, _project()).test_client()
    assert client.get("/whatsapp/webhook?hub.challenge=1").status_code == 404
    assert _notify(client, "wamid.x", "sent").status_code == 404


# -- on-premises --------------------------------------------------------------------------------------
@pytest.fixture
def on_prem(standins: Standins) -> Standins:
    standins.on_prem_users["gatehouse"] = "on-prem-password"
    return standins


def test_on_premises_logs_in_once_and_sends_the_template(provider_app, on_prem):
    app = provider_app({"whatsapp.on-premises": ON_PREMISES}, _project(api_type="on-premises"))
    flow, result = _login_to_code(app)
    assert result["action"]["data"]["delivery_status"] == "sent"
    login, sent = on_prem.to("whatsapp.example.com")
    assert login.path == "/v1/users/login" and login.basic_auth == ("gatehouse", "on-prem-password")
    assert sent.path == "/v1/messages" and sent.headers["Authorization"].startswith("Bearer ")
    body = sent.json
    code = body["template"]["components"][0]["parameters"][0]["text"]
    assert body == {
        "recipient_type": "individual",
        "to": flow.phone,  # type: ignore[attr-defined]
        "type": "template",
        "template": {
            "name": "otp_template",
            "language": {"policy": "deterministic", "code": "en"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": code}]},
                {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": code}]},
            ],
            "namespace": "ns-1",
        },
    }
    assert flow.send({"code": code})["action"]["type"] == "finished"
    # The token is kept: the next code needs no login; a revoked one is renewed once.
    _login_to_code(app)
    assert [r.path for r in on_prem.to("whatsapp.example.com")][2:] == ["/v1/messages"]
    on_prem.on_prem_tokens.clear()
    assert _login_to_code(app)[1]["action"]["data"]["delivery_status"] == "sent"
    assert [r.path for r in on_prem.to("whatsapp.example.com")][3:] == [
        "/v1/messages",
        "/v1/users/login",
        "/v1/messages",
    ]


def test_on_premises_invalid_user_and_bad_credentials(provider_app, on_prem):
    app = provider_app({"whatsapp.on-premises": ON_PREMISES}, _project(api_type="on-premises"))
    on_prem.script["whatsapp.example.com"] = (
        200,
        {"users": [{"token": "t1", "expires_after": "2099-01-01 00:00:00+00:00"}]},
    )
    on_prem.on_prem_tokens.add("t1")
    _login_to_code(app)  # logs in with the scripted answer
    on_prem.script["whatsapp.example.com"] = (
        400,
        {"errors": [{"code": 1013, "title": "User is not valid", "details": "Recipient is not a valid WhatsApp user"}]},
    )
    data = _login_to_code(app)[1]["action"]["data"]
    assert data["delivery_error"] == {
        "name": "BadRequest",
        "reason": "InvalidWhatsappUser",
        "message": "invalid whatsapp user",
        "code": 400,
    }
    wrong = provider_app(
        {"whatsapp.on-premises": {**ON_PREMISES, "password": "wrong"}}, _project(api_type="on-premises")
    )
    data = _login_to_code(wrong)[1]["action"]["data"]
    assert data["delivery_error"]["reason"] == "UnexpectedError"


@pytest.mark.embedded
@pytest.mark.parametrize(
    "secrets_,match",
    [
        ({"whatsapp.cloud-api": {**CLOUD, "access_token": ""}}, "whatsapp.cloud-api/access_token"),
        ({"whatsapp.cloud-api": {**CLOUD, "authentication_template": {"type": "one_tap"}}}, "authentication_template"),
        ({"whatsapp.on-premises": {**ON_PREMISES, "templates": {}}}, "templates/otp"),
    ],
)
def test_broken_whatsapp_secrets_stop_the_start(provider_app, secrets_, match):
    api_type = "cloud-api" if "whatsapp.cloud-api" in secrets_ else "on-premises"
    with pytest.raises(ConfigError, match=match):
        provider_app(secrets_, _project(api_type=api_type))
