"""Blocking webhooks over a real HTTP receiver: refusals, mutations, timeouts and bad answers
fail or change the operation as Authgear's do, and a refused operation leaves nothing behind."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.identities.models import User
from tests.hooks.conftest import login, signup


def _users(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def test_user_pre_create_refusal_is_hook_disallowed_and_creates_nothing(hook_app, receiver):
    receiver.answers["pre"] = lambda e: (200, {"is_allowed": False, "title": "No", "reason": "closed"})
    app = hook_app({"blocking_handlers": [{"event": "user.pre_create", "url": receiver.url("pre")}]})
    resp = signup(app.test_client(), "refused1")
    assert resp.status_code == 403
    assert resp.get_json()["error"] == {
        "name": "Forbidden",
        "reason": "HookDisallowed",
        "message": "disallowed by hook event handler",
        "code": 403,
        "info": {
            "event_type": "user.pre_create",
            "reasons": [{"title": "No", "reason": "closed"}],
            "FlowType": "signup",
        },
    }
    assert _users(app) == 0
    (event,) = receiver.events["pre"]
    assert event["type"] == "user.pre_create" and event["id"] == f"{event['seq']:016x}"
    assert set(event["payload"]) == {"user", "identities"}
    assert event["payload"]["identities"][0]["claims"]["preferred_username"] == "refused1"
    assert event["context"]["user_id"] == event["payload"]["user"]["id"]
    assert event["context"]["triggered_by"] == "user"
    for key in ("timestamp", "audit_context", "preferred_languages", "language", "geo_location_code", "ip_address"):
        assert key in event["context"]


def test_user_pre_create_mutations_are_applied(hook_app, receiver):
    def mutate(event):
        attrs = {**event["payload"]["user"]["standard_attributes"], "name": "Hooked Name"}
        return 200, {"is_allowed": True, "mutations": {"user": {"standard_attributes": attrs, "roles": ["vip"]}}}

    receiver.answers["pre"] = mutate
    app = hook_app({"blocking_handlers": [{"event": "user.pre_create", "url": receiver.url("pre")}]})
    with app.app_context():
        app.extensions["gatehouse"].roles.create_role("vip")
        db.session.commit()
    assert signup(app.test_client(), "mutated1").status_code == 200
    with app.app_context():
        from app.hooks.payloads import user_keys

        user = db.session.scalars(select(User)).one()
        assert user.standard_attributes["name"] == "Hooked Name"
        assert user_keys(user.id) == (["vip"], [])


def test_timeout_is_hook_delivery_timeout_and_creates_nothing(hook_app, receiver):
    receiver.answers["slow"] = lambda e: (200, {"is_allowed": True}, 2.5)
    hook = {
        "sync_hook_timeout_seconds": 1,
        "blocking_handlers": [{"event": "user.pre_create", "url": receiver.url("slow")}],
    }
    resp = signup(hook_app(hook).test_client(), "slow1")
    assert resp.status_code == 500
    assert resp.get_json()["error"]["reason"] == "HookDeliveryTimeout"


def test_bad_answers_are_hook_invalid_response(hook_app, receiver):
    receiver.answers["extra"] = lambda e: (200, {"is_allowed": True, "constraints": {"amr": ["mfa"]}})
    receiver.answers["status"] = lambda e: (500, {"is_allowed": True})
    receiver.answers["text"] = lambda e: (200, b"not json")
    for name, info in (("extra", "causes"), ("status", "status_code"), ("text", None)):
        app = hook_app({"blocking_handlers": [{"event": "user.pre_create", "url": receiver.url(name)}]})
        resp = signup(app.test_client(), f"bad{name}")
        error = resp.get_json()["error"]
        assert (resp.status_code, error["name"], error["reason"]) == (500, "InternalError", "HookInvalidResponse")
        if info:
            assert info in error["info"]
        assert _users(app) == 0


def test_pre_authenticated_refusal_stops_login(hook_app, receiver):
    receiver.answers["auth"] = lambda e: (200, {"is_allowed": False})
    app = hook_app({"blocking_handlers": [{"event": "authentication.pre_authenticated", "url": receiver.url("auth")}]})
    client = app.test_client()
    receiver.answers["auth"] = lambda e: (200, {"is_allowed": True})
    assert signup(client, "loginuser1").status_code == 200
    receiver.answers["auth"] = lambda e: (200, {"is_allowed": False})
    resp = login(client, "loginuser1")
    assert resp.status_code == 403
    assert resp.get_json()["error"]["info"]["reasons"] == [{"title": "", "reason": ""}]
    event = receiver.events["auth"][-1]
    context = event["payload"]["authentication_context"]
    assert context["authentication_flow"] == {"type": "login", "name": "default"}
    assert context["user"]["standard_attributes"]["preferred_username"] == "loginuser1"
    assert "x_primary_password" in context["amr"] or "pwd" in context["amr"]
