"""Passkeys over the Authentication Flow API, with a software authenticator signing real WebAuthn
attestations and assertions (tests/passkeys/authenticator.py)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import select

from app.authenticators.models import Authenticator
from app.extensions import db
from app.identities.models import Identity, User
from app.sessions.models import IdPSession
from tests.fakes import FakeClock
from tests.passkeys.authenticator import SoftAuthenticator, b64url
from tests.passkeys.flow_helpers import log_in_with_password, option, send, sign_up, start

PASSWORD = "Pa55-word-passkey!"


def _username() -> str:
    return "pk_" + secrets.token_hex(4)


def _signed_up_with_passkey(app, fmt="packed"):
    """A user who signed up with a username and a password and created a passkey when prompted."""
    client, username, key = app.test_client(), _username(), SoftAuthenticator()
    state = sign_up(client, username, PASSWORD)
    finished = send(
        client, state, {"creation_response": key.create(state["action"]["data"]["creation_options"], fmt=fmt)}
    )
    assert finished["action"]["type"] == "finished"
    return username, key


def _passkey_request_options(client):
    state = start(client)
    return state, option(state, "identification", "passkey")["request_options"]


def _user(app, username):
    with app.app_context():
        return db.session.scalar(select(Identity).where(Identity.login_id == username)).user_id


def test_signup_prompts_with_authgear_creation_options_and_creates_the_passkey(passkey_app):
    app = passkey_app()
    client, username, key = app.test_client(), _username(), SoftAuthenticator()
    state = sign_up(client, username, PASSWORD)
    assert state["action"]["type"] == "prompt_create_passkey"
    data = state["action"]["data"]
    assert data["type"] == "create_passkey_data" and set(data) == {"type", "creation_options"}
    public_key = data["creation_options"]["publicKey"]
    assert public_key["rp"] == {"id": "localhost", "name": "gatehouse-test"}
    assert public_key["user"]["name"] == public_key["user"]["displayName"] == username
    assert public_key["pubKeyCredParams"] == [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}]
    assert public_key["timeout"] == 300000
    assert public_key["authenticatorSelection"] == {"residentKey": "preferred", "userVerification": "preferred"}
    assert public_key["attestation"] == "direct"
    assert public_key["extensions"] == {"credProps": True, "uvm": True}
    assert len(public_key["challenge"]) >= 43 and "excludeCredentials" not in public_key

    finished = send(client, state, {"creation_response": key.create(data["creation_options"], fmt="packed")})
    assert finished["action"]["type"] == "finished"
    with app.app_context():
        user_id = db.session.scalar(select(Identity).where(Identity.login_id == username)).user_id
        # The credential's user handle is the user's ID, chosen before the user was written.
        assert key.user_handle == user_id.encode()
        identity = db.session.scalar(select(Identity).where(Identity.type == "passkey", Identity.user_id == user_id))
        assert identity.dedup_key == f"passkey:{key.id}" and identity.claims["display_name"] == username
        auth = db.session.scalar(select(Authenticator).where(Authenticator.type == "passkey"))
        assert (auth.user_id, auth.kind, auth.passkey_credential_id) == (user_id, "primary", key.id)


def test_signup_can_skip_the_passkey(passkey_app):
    app = passkey_app()
    client = app.test_client()
    state = sign_up(client, _username(), PASSWORD)
    assert send(client, state, {"skip": True})["action"]["type"] == "finished"
    with app.app_context():
        assert db.session.scalar(select(Identity).where(Identity.type == "passkey")) is None


def test_login_with_a_passkey_identification(passkey_app):
    app = passkey_app()
    username, key = _signed_up_with_passkey(app, fmt="none")
    client = app.test_client()
    state, request_options = _passkey_request_options(client)
    public_key = request_options["publicKey"]
    assert public_key["rpId"] == "localhost" and public_key["userVerification"] == "preferred"
    assert public_key["timeout"] == 3600000 and public_key["extensions"] == {"uvm": True}
    assert "allowCredentials" not in public_key and "mediation" not in request_options
    finished = send(client, state, {"identification": "passkey", "assertion_response": key.get(request_options)})
    assert finished["action"]["type"] == "finished" and finished["type"] == "login"
    with app.app_context():
        sessions = db.session.scalars(select(IdPSession).where(IdPSession.user_id == _user(app, username)))
        # The signup's session, and the passkey login's.
        assert sorted(s.amr for s in sessions) == [[], ["x_passkey"]]
        auth = db.session.scalar(select(Authenticator).where(Authenticator.type == "passkey"))
        assert auth.passkey_sign_count == 1 and auth.passkey_last_used_at is not None


def test_a_passkey_identification_skips_the_prompt_and_the_password(passkey_app):
    app = passkey_app({"ui": {"passkey_upselling_opt_out_enabled": True}})
    _, key = _signed_up_with_passkey(app)
    client = app.test_client()
    state, request_options = _passkey_request_options(client)
    finished = send(client, state, {"identification": "passkey", "assertion_response": key.get(request_options)})
    assert finished["action"]["type"] == "finished"


def test_a_challenge_is_used_once(passkey_app):
    app = passkey_app()
    _, key = _signed_up_with_passkey(app)
    client = app.test_client()
    state, request_options = _passkey_request_options(client)
    assertion = key.get(request_options)
    send(client, state, {"identification": "passkey", "assertion_response": assertion})
    # The same assertion replayed in another flow, and a fresh signature over the used challenge.
    other, _ = _passkey_request_options(app.test_client())
    error = send(client, other, {"identification": "passkey", "assertion_response": assertion}, 404)
    assert (error["name"], error["reason"]) == ("NotFound", "WebAuthnSessionNotFound")
    again = key.get(request_options)
    error = send(client, other, {"identification": "passkey", "assertion_response": again}, 404)
    assert error["reason"] == "WebAuthnSessionNotFound"


def test_an_unknown_challenge_is_refused(passkey_app):
    app = passkey_app()
    _, key = _signed_up_with_passkey(app)
    client = app.test_client()
    state, request_options = _passkey_request_options(client)
    forged = key.get(request_options, challenge=b64url(secrets.token_bytes(32)))
    error = send(client, state, {"identification": "passkey", "assertion_response": forged}, 404)
    assert error["reason"] == "WebAuthnSessionNotFound"


def test_wrong_origin_wrong_rp_id_and_absent_user_are_refused(passkey_app):
    app = passkey_app()
    _, key = _signed_up_with_passkey(app)
    client = app.test_client()
    state, request_options = _passkey_request_options(client)
    for lie in (
        {"origin": "https://evil.example"},
        {"origin": "http://localhost:3001"},
        {"rp_id": "evil.example"},
        {"user_present": False},
    ):
        error = send(
            client, state, {"identification": "passkey", "assertion_response": key.get(request_options, **lie)}, 401
        )
        assert (error["name"], error["reason"]) == ("Unauthorized", "InvalidCredentials"), lie
    # Each refusal left the challenge open: the honest answer still signs in.
    finished = send(client, state, {"identification": "passkey", "assertion_response": key.get(request_options)})
    assert finished["action"]["type"] == "finished"


def test_a_sign_count_that_does_not_grow_is_refused(passkey_app):
    app = passkey_app()
    _, key = _signed_up_with_passkey(app)
    client = app.test_client()
    state, request_options = _passkey_request_options(client)
    send(client, state, {"identification": "passkey", "assertion_response": key.get(request_options, sign_count=5)})
    state, request_options = _passkey_request_options(client)
    error = send(
        client, state, {"identification": "passkey", "assertion_response": key.get(request_options, sign_count=5)}, 401
    )
    assert error["reason"] == "InvalidCredentials"


def test_a_passkey_no_user_holds_is_user_not_found(passkey_app):
    app = passkey_app()
    client = app.test_client()
    state, request_options = _passkey_request_options(client)
    error = send(
        client,
        state,
        {"identification": "passkey", "assertion_response": SoftAuthenticator().get(request_options)},
        404,
    )
    assert (error["name"], error["reason"]) == ("NotFound", "UserNotFound")


def test_a_malformed_assertion_fails_the_input_schema(passkey_app):
    app = passkey_app()
    client = app.test_client()
    state, _ = _passkey_request_options(client)
    error = send(client, state, {"identification": "passkey", "assertion_response": {"id": "x"}}, 400)
    assert (error["name"], error["reason"]) == ("Invalid", "ValidationFailed")


def test_primary_passkey_after_a_login_id(passkey_app):
    app = passkey_app()
    username, key = _signed_up_with_passkey(app)
    client = app.test_client()
    state = send(client, start(client), {"identification": "username", "login_id": username})
    assert [o["authentication"] for o in state["action"]["data"]["options"]] == ["primary_password", "primary_passkey"]
    request_options = option(state, "authentication", "primary_passkey")["request_options"]
    public_key = request_options["publicKey"]
    assert public_key["allowCredentials"] == [{"type": "public-key", "id": key.id}]
    assert public_key["timeout"] == 300000
    finished = send(
        client, state, {"authentication": "primary_passkey", "assertion_response": key.get(request_options)}
    )
    # No prompt: the user already has a passkey.
    assert finished["action"]["type"] == "finished"


def test_primary_passkey_refuses_another_users_passkey(passkey_app):
    app = passkey_app()
    username, _ = _signed_up_with_passkey(app)
    _, other_key = _signed_up_with_passkey(app)
    client = app.test_client()
    state = send(client, start(client), {"identification": "username", "login_id": username})
    request_options = option(state, "authentication", "primary_passkey")["request_options"]
    error = send(
        client, state, {"authentication": "primary_passkey", "assertion_response": other_key.get(request_options)}, 401
    )
    assert error["reason"] == "InvalidCredentials"


def test_request_options_expire_with_their_ceremony(passkey_app):
    app = passkey_app()
    username, key = _signed_up_with_passkey(app)
    clock = FakeClock(datetime.now(UTC))
    app.extensions["gatehouse"].clock = clock
    client = app.test_client()
    state = send(client, start(client), {"identification": "username", "login_id": username})
    request_options = option(state, "authentication", "primary_passkey")["request_options"]
    clock.advance(301)
    error = send(
        client, state, {"authentication": "primary_passkey", "assertion_response": key.get(request_options)}, 404
    )
    assert error["reason"] == "WebAuthnSessionNotFound"


def test_login_prompts_a_user_without_a_passkey(passkey_app):
    app = passkey_app()
    client, username = app.test_client(), _username()
    send(client, sign_up(client, username, PASSWORD), {"skip": True})
    state = log_in_with_password(client, username, PASSWORD)
    assert state["action"]["type"] == "prompt_create_passkey"
    creation = state["action"]["data"]["creation_options"]
    assert creation["publicKey"]["user"]["id"] == b64url(_user(app, username).encode())
    key = SoftAuthenticator()
    assert send(client, state, {"creation_response": key.create(creation)})["action"]["type"] == "finished"
    with app.app_context():
        assert db.session.scalar(select(Authenticator).where(Authenticator.passkey_credential_id == key.id))
    # The next login has nothing to prompt for, and the new passkey signs in.
    state = log_in_with_password(app.test_client(), username, PASSWORD)
    assert state["action"]["type"] == "finished"


def test_a_creation_response_is_checked(passkey_app):
    app = passkey_app()
    client, username = app.test_client(), _username()
    send(client, sign_up(client, username, PASSWORD), {"skip": True})
    state = log_in_with_password(client, username, PASSWORD)
    creation = state["action"]["data"]["creation_options"]
    key = SoftAuthenticator()
    for lie, status, reason in (
        ({"origin": "https://evil.example"}, 401, "InvalidCredentials"),
        ({"rp_id": "evil.example"}, 401, "InvalidCredentials"),
        ({"challenge": b64url(secrets.token_bytes(32))}, 404, "WebAuthnSessionNotFound"),
    ):
        error = send(client, state, {"creation_response": key.create(creation, **lie)}, status)
        assert error["reason"] == reason, lie
    response = key.create(creation)
    assert send(client, state, {"creation_response": response})["action"]["type"] == "finished"
    # Its challenge is used up.
    other = log_in_with_password(app.test_client(), _signed_up_without_passkey(app), PASSWORD)
    error = send(client, other, {"creation_response": response}, 404)
    assert error["reason"] == "WebAuthnSessionNotFound"


def _signed_up_without_passkey(app):
    client, username = app.test_client(), _username()
    send(client, sign_up(client, username, PASSWORD), {"skip": True})
    return username


def test_do_not_ask_again(passkey_app):
    app = passkey_app({"ui": {"passkey_upselling_opt_out_enabled": True}})
    username = _signed_up_without_passkey(app)
    client = app.test_client()
    state = log_in_with_password(client, username, PASSWORD)
    assert state["action"]["data"]["allow_do_not_ask_again"] is True
    assert send(client, state, {"skip": True, "do_not_ask_again": True})["action"]["type"] == "finished"
    with app.app_context():
        assert db.session.get(User, _user(app, username)).opt_out_passkey_upsell is True
    assert log_in_with_password(app.test_client(), username, PASSWORD)["action"]["type"] == "finished"


def test_do_not_ask_again_counts_only_when_offered(passkey_app):
    app = passkey_app()
    username = _signed_up_without_passkey(app)
    client = app.test_client()
    state = log_in_with_password(client, username, PASSWORD)
    assert "allow_do_not_ask_again" not in state["action"]["data"]
    # A key the step does not offer is ignored, as Authgear's open input schemas ignore it.
    finished = send(client, state, {"skip": True, "do_not_ask_again": True})
    assert finished["action"]["type"] == "finished"
    with app.app_context():
        assert db.session.get(User, _user(app, username)).opt_out_passkey_upsell is not True


def test_signup_login_with_a_passkey_becomes_a_login(passkey_app):
    app = passkey_app()
    _, key = _signed_up_with_passkey(app)
    client = app.test_client()
    state = start(client, "signup_login")
    request_options = option(state, "identification", "passkey")["request_options"]
    finished = send(client, state, {"identification": "passkey", "assertion_response": key.get(request_options)})
    assert (finished["type"], finished["action"]["type"]) == ("login", "finished")


def test_passkeys_stay_out_of_flows_when_disabled(make_app):
    client = make_app().test_client()
    state = start(client)
    assert all(o["identification"] != "passkey" for o in state["action"]["data"]["options"])
    username = _username()
    state = sign_up(client, username, PASSWORD)
    assert state["action"]["type"] == "finished"
