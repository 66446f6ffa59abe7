"""authentication.pre_initialize, post_identified and pre_authenticated over the Flow API: refusals
stop the flow where Authgear's do, and `constraints: {amr: [...]}` in an answer makes the flow ask
for a second factor before it finishes (Authgear's e2e tests/hook/authentication.*)."""

from __future__ import annotations

from pathlib import Path

import pyotp
from sqlalchemy import func, select

from app.extensions import db
from app.identities.models import User
from tests.hooks.conftest import FLOWS, login, signup

CONSTRAINTS_MFA = """export default async function (e: any): Promise<any> {
  return { is_allowed: true, constraints: { amr: ["mfa"] } };
}
"""
LOGIN_FLOW = {
    "login_flows": [
        {
            "name": "default",
            "steps": [
                {
                    "type": "identify",
                    "one_of": [
                        {
                            "identification": "username",
                            "steps": [{"type": "authenticate", "one_of": [{"authentication": "primary_password"}]}],
                        }
                    ],
                }
            ],
        }
    ]
}
SECONDARY = {"authentication": {"secondary_authenticators": ["totp", "oob_otp_email"]}}


def _deno(tmp_path: Path, **scripts: str) -> Path:
    (tmp_path / "deno").mkdir(exist_ok=True)
    for name, source in scripts.items():
        (tmp_path / "deno" / f"{name}.ts").write_text(source, encoding="utf-8")
    return tmp_path


def _user_with_totp(app, username: str) -> str:
    """A signed-up user (password) who also has a TOTP authenticator; returns the TOTP secret."""
    assert signup(app.test_client(), username).status_code == 200
    secret = pyotp.random_base32()
    with app.app_context():
        svc = app.extensions["gatehouse"]
        user = db.session.scalars(select(User)).one()
        svc.totp.create(user.id, secret, "TOTP", None)
        db.session.commit()
    return secret


def _step(client, token: str, inp: dict) -> dict:
    resp = client.post(FLOWS + "/states/input", json={"state_token": token, "input": inp})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["result"]


def test_pre_initialize_refusal_is_the_creation_error(hook_app, receiver):
    receiver.answers["init"] = lambda e: (200, {"is_allowed": False, "title": "Closed", "reason": "maintenance"})
    app = hook_app({"blocking_handlers": [{"event": "authentication.pre_initialize", "url": receiver.url("init")}]})
    resp = app.test_client().post(FLOWS, json={"type": "login", "name": "default"})
    assert resp.status_code == 403
    assert resp.get_json()["error"]["info"] == {
        "event_type": "authentication.pre_initialize",
        "reasons": [{"title": "Closed", "reason": "maintenance"}],
        "FlowType": "login",
    }
    (event,) = receiver.events["init"]
    context = event["payload"]["authentication_context"]
    assert context["authentication_flow"] == {"type": "login", "name": "default"}
    assert context["user"] is None and context["amr"] == []
    assert event["context"]["user_id"] is None


def test_post_identified_refusal_stops_at_identify(hook_app, receiver):
    receiver.answers["ident"] = lambda e: (200, {"is_allowed": True})
    hook = {"blocking_handlers": [{"event": "authentication.post_identified", "url": receiver.url("ident")}]}
    app = hook_app(hook)
    assert signup(app.test_client(), "identified1").status_code == 200
    signup_event = receiver.events["ident"][-1]
    assert signup_event["payload"]["identification"]["identification"] == "username"
    assert signup_event["payload"]["authentication_context"]["authentication_flow"]["type"] == "signup"
    receiver.answers["ident"] = lambda e: (200, {"is_allowed": False})
    client = app.test_client()
    token = client.post(FLOWS, json={"type": "login", "name": "default"}).get_json()["result"]["state_token"]
    resp = client.post(
        FLOWS + "/states/input",
        json={"state_token": token, "input": {"identification": "username", "login_id": "identified1"}},
    )
    assert resp.status_code == 403
    assert resp.get_json()["error"]["info"]["event_type"] == "authentication.post_identified"
    event = receiver.events["ident"][-1]
    identity = event["payload"]["identification"]["identity"]
    assert identity["type"] == "login_id"
    assert identity["claims"]["https://authgear.com/claims/login_id/value"] == "identified1"
    assert event["payload"]["authentication_context"]["user"]["id"] == event["context"]["user_id"]


def test_pre_authenticated_constraints_require_a_second_factor_deno(hook_app, tmp_path):
    """Authgear's "MFA required by authentication.pre_authenticated in login", with a real Deno script."""
    project = _deno(tmp_path, constraintsmfa=CONSTRAINTS_MFA)
    overrides = {**SECONDARY, "authentication_flow": LOGIN_FLOW}
    plain = hook_app({}, overrides=overrides, config_dir=project)
    secret = _user_with_totp(plain, "mfauser1")
    hook = {
        "blocking_handlers": [
            {"event": "authentication.pre_authenticated", "url": "authgeardeno:///deno/constraintsmfa.ts"}
        ]
    }
    app = hook_app(hook, overrides=overrides, config_dir=project)
    client = app.test_client()
    token = client.post(FLOWS, json={"type": "login", "name": "default"}).get_json()["result"]["state_token"]
    result = _step(client, token, {"identification": "username", "login_id": "mfauser1"})
    result = _step(client, result["state_token"], {"authentication": "primary_password", "password": "Pw-hooks-1234"})
    action = result["action"]
    assert action["type"] == "authenticate"
    assert action["data"]["options"] == [{"authentication": "secondary_totp"}]
    result = _step(
        client, result["state_token"], {"authentication": "secondary_totp", "code": pyotp.TOTP(secret).now()}
    )
    assert result["action"]["type"] == "finished"
    with app.app_context():
        from app.sessions.models import IdPSession

        session = db.session.scalars(select(IdPSession).order_by(IdPSession.created_at.desc())).first()
        assert "mfa" in session.amr and "otp" in session.amr


def test_post_identified_constraints_without_a_second_factor_refuse_the_login(hook_app, receiver):
    receiver.answers["ident"] = lambda e: (200, {"is_allowed": True, "constraints": {"amr": ["mfa"]}})
    overrides = {**SECONDARY, "authentication_flow": LOGIN_FLOW}
    plain = hook_app({}, overrides=overrides)
    assert signup(plain.test_client(), "nofactor1").status_code == 200
    hook = {"blocking_handlers": [{"event": "authentication.post_identified", "url": receiver.url("ident")}]}
    app = hook_app(hook, overrides=overrides)
    resp = login(app.test_client(), "nofactor1")
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert (error["name"], error["reason"], error["info"]["cause"]["kind"]) == (
        "Invalid",
        "InvariantViolated",
        "NoAuthenticator",
    )
    with app.app_context():
        from app.sessions.models import IdPSession

        assert db.session.scalar(select(func.count()).select_from(IdPSession)) == 1  # the signup's


def test_specific_amr_constraint_offers_only_matching_factors(hook_app, receiver):
    """`x_secondary_totp` keeps only TOTP among the user's second factors; an answer without
    constraints changes nothing."""
    overrides = {**SECONDARY, "authentication_flow": LOGIN_FLOW}
    plain = hook_app({}, overrides=overrides)
    secret = _user_with_totp(plain, "totpuser1")
    receiver.answers["auth"] = lambda e: (200, {"is_allowed": True, "constraints": {"amr": ["x_secondary_totp"]}})
    hook = {"blocking_handlers": [{"event": "authentication.pre_initialize", "url": receiver.url("auth")}]}
    app = hook_app(hook, overrides=overrides)
    client = app.test_client()
    token = client.post(FLOWS, json={"type": "login", "name": "default"}).get_json()["result"]["state_token"]
    result = _step(client, token, {"identification": "username", "login_id": "totpuser1"})
    result = _step(client, result["state_token"], {"authentication": "primary_password", "password": "Pw-hooks-1234"})
    assert result["action"]["data"]["options"] == [{"authentication": "secondary_totp"}]
    result = _step(
        client, result["state_token"], {"authentication": "secondary_totp", "code": pyotp.TOTP(secret).now()}
    )
    assert result["action"]["type"] == "finished"
    receiver.answers["auth"] = lambda e: (200, {"is_allowed": True})
    assert login(app.test_client(), "totpuser1").status_code == 200


def test_signup_constraints_ask_to_create_a_second_factor(hook_app, receiver):
    receiver.answers["auth"] = lambda e: (200, {"is_allowed": True, "constraints": {"amr": ["mfa"]}})
    hook = {"blocking_handlers": [{"event": "authentication.pre_authenticated", "url": receiver.url("auth")}]}
    app = hook_app(hook, overrides={"authentication": {"secondary_authenticators": ["totp"]}})
    client = app.test_client()
    resp = signup(client, "mfasignup1")
    assert resp.status_code == 200
    result = resp.get_json()["result"]
    assert result["action"]["type"] == "create_authenticator"
    assert [o["authentication"] for o in result["action"]["data"]["options"]] == ["secondary_totp"]
    result = _step(client, result["state_token"], {"authentication": "secondary_totp"})
    secret = result["action"]["data"]["secret"]
    result = _step(client, result["state_token"], {"code": pyotp.TOTP(secret).now()})
    while result["action"]["type"] != "finished":  # e.g. the recovery codes to view
        assert result["action"]["type"] == "view_recovery_code", result["action"]
        result = _step(client, result["state_token"], {"confirm_recovery_code": True})
    event = receiver.events["auth"][0]
    context = event["payload"]["authentication_context"]
    assert context["authentication_flow"]["type"] == "signup"
    assert "x_primary_password" in context["amr"]
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        assert user.id == context["user"]["id"] == event["context"]["user_id"]
        assert len(app.extensions["gatehouse"].totp.list_for_user(user.id)) == 1
