"""The Authentication Flow API under hostile, oversized and concurrent input."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from app.extensions import db
from app.identities.models import Identity

FLOWS = "/api/v1/authentication_flows"
INPUT = FLOWS + "/states/input"


def _start_username_signup(client, username):
    token = client.post(FLOWS, json={"type": "signup", "name": "default"}).get_json()["result"]["state_token"]
    resp = client.post(
        INPUT, json={"state_token": token, "input": {"identification": "username", "login_id": username}}
    )
    return resp.get_json()["result"]["state_token"]


def test_oversized_body_is_refused_with_the_envelope(flow_app):
    client = flow_app().test_client()
    resp = client.post(FLOWS, data=b"{" + b" " * (1024 * 1024 + 10) + b"}", content_type="application/json")
    assert resp.status_code == 413
    assert resp.get_json()["error"]["name"] == "RequestEntityTooLarge"


def test_non_json_and_non_object_bodies_are_bad_requests(flow_app):
    client = flow_app().test_client()
    for body in (b"not json", b"[1,2]", b'"string"', b"\xff\xfe"):
        resp = client.post(FLOWS, data=body, content_type="application/json")
        assert resp.status_code == 400
        assert resp.get_json()["error"]["name"] == "BadRequest"


def test_states_can_be_re_read_and_earlier_tokens_stay_usable(flow_app):
    client = flow_app().test_client()
    first = client.post(FLOWS, json={"type": "signup", "name": "default"}).get_json()["result"]
    second = client.post(
        INPUT, json={"state_token": first["state_token"], "input": {"identification": "username", "login_id": "back_1"}}
    ).get_json()["result"]
    assert second["state_token"] != first["state_token"]
    reread = client.post(FLOWS + "/states", json={"state_token": first["state_token"]}).get_json()["result"]
    assert reread["action"]["type"] == "identify"
    again = client.post(
        INPUT, json={"state_token": first["state_token"], "input": {"identification": "username", "login_id": "back_2"}}
    )
    assert again.status_code == 200


def test_two_concurrent_signups_with_one_username_make_one_user(flow_app):
    app = flow_app()
    username = "race_" + secrets.token_hex(4)
    clients = [app.test_client(), app.test_client()]
    tokens = [_start_username_signup(c, username) for c in clients]

    def finish(i):
        body = {
            "state_token": tokens[i],
            "input": {"authentication": "primary_password", "new_password": "Pa55-word-race"},
        }
        return clients[i].post(INPUT, json=body)

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(finish, [0, 1]))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 400]
    failed = next(r for r in responses if r.status_code == 400).get_json()["error"]
    assert failed["info"]["cause"]["kind"] == "DuplicatedIdentity"
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Identity).where(Identity.login_id == username))
    assert count == 1


def test_parallel_password_guesses_never_exceed_the_rate_limit(flow_app, services_of):
    app = flow_app(
        {
            "authentication": {
                "rate_limits": {"general": {"per_user_per_ip": {"enabled": True, "period": "1m", "burst": 3}}}
            }
        }
    )
    with services_of(app)() as svc:
        user = svc.users.create_user([("username", "target_user")])
        svc.passwords.create(user.id, "Right-password-1")
        db.session.commit()
    client = app.test_client()
    token = client.post(FLOWS, json={"type": "login", "name": "default"}).get_json()["result"]["state_token"]
    token = client.post(
        INPUT, json={"state_token": token, "input": {"identification": "username", "login_id": "target_user"}}
    ).get_json()["result"]["state_token"]

    def guess(i):
        body = {"state_token": token, "input": {"authentication": "primary_password", "password": f"guess-{i}"}}
        return app.test_client().post(INPUT, json=body).get_json()["error"]["reason"]

    with ThreadPoolExecutor(8) as pool:
        reasons = list(pool.map(guess, range(10)))
    assert reasons.count("InvalidCredentials") == 3
    assert reasons.count("RateLimited") == 7
    limited = app.test_client().post(
        INPUT,
        json={"state_token": token, "input": {"authentication": "primary_password", "password": "Right-password-1"}},
    )
    assert limited.status_code == 429
    # authentication.password, its rules `general`'s (none of its own): Authgear's names.
    assert limited.get_json()["error"]["info"] == {
        "bucket_name": "VerifyPasswordPerUserPerIP",
        "rate_limit": {"name": "authentication.password.per_user_per_ip", "group": "authentication.password"},
        "rate_limit_name": "authentication.password",
        "FlowType": "login",
    }


def test_flow_api_per_ip_limit(flow_app):
    app = flow_app({"authentication_flow": {"rate_limits": {"per_ip": {"enabled": True, "period": "1m", "burst": 3}}}})
    client = app.test_client()
    answers = [client.post(FLOWS, json={"type": "login", "name": "default"}) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    # Authgear's authenticationflow.RateLimitMiddleware: apierrors.NewTooManyRequest("Reach Rate Limit").
    assert answers[-1].get_json()["error"] == {
        "name": "TooManyRequest",
        "reason": "TooManyRequest",
        "message": "Reach Rate Limit",
        "code": 429,
    }


def test_cors_only_for_allowed_origins(flow_app):
    app = flow_app({"http": {"allowed_origins": ["https://ui.example.com"]}})
    client = app.test_client()
    ok = client.options(FLOWS, headers={"Origin": "https://ui.example.com"})
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == "https://ui.example.com"
    evil = client.post(FLOWS, json={"type": "login", "name": "default"}, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in evil.headers


def test_session_cookie_flags(flow_app, services_of):
    app = flow_app()
    with services_of(app)() as svc:
        user = svc.users.create_user([("username", "cookie_user")])
        svc.passwords.create(user.id, "Cookie-pass-1")
        db.session.commit()
    client = app.test_client()
    resp = client.post(
        FLOWS,
        json={
            "type": "login",
            "name": "default",
            "batch_input": [
                {"identification": "username", "login_id": "cookie_user"},
                {"authentication": "primary_password", "password": "Cookie-pass-1"},
            ],
        },
    )
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Max-Age=31449600" in cookie
    # Authgear's same-site marker beside it, sent back only on same-site navigations (end_session).
    strict = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("same_site_strict=true"))
    assert "HttpOnly" in strict and "SameSite=Strict" in strict and "Max-Age=31449600" in strict


def test_one_state_finished_twice_at_once_signs_in_once(flow_app, services_of):
    from app.sessions.models import IdPSession

    app = flow_app()
    with services_of(app)() as svc:
        user = svc.users.create_user([("username", "twice_user")])
        svc.passwords.create(user.id, "Twice-pass-1")
        db.session.commit()
        user_id = user.id
    client = app.test_client()
    token = client.post(FLOWS, json={"type": "login", "name": "default"}).get_json()["result"]["state_token"]
    token = client.post(
        INPUT, json={"state_token": token, "input": {"identification": "username", "login_id": "twice_user"}}
    ).get_json()["result"]["state_token"]

    def finish(_):
        body = {"state_token": token, "input": {"authentication": "primary_password", "password": "Twice-pass-1"}}
        return app.test_client().post(INPUT, json=body).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(finish, range(4)))
    assert codes == [200, 404, 404, 404]
    with app.app_context():
        sessions = db.session.scalar(select(func.count()).select_from(IdPSession).where(IdPSession.user_id == user_id))
    assert sessions == 1


def test_a_password_login_is_one_transaction_of_a_constant_number_of_statements(flow_app, services_of):
    """A login in one request (`batch_input`) reads the identity with its user, then the password,
    and writes the login, the session and its two audit rows: six statements and one COMMIT, the
    same for every user (none re-read after an earlier input's commit)."""
    from sqlalchemy import event

    from app.audit import AuditLog
    from app.identities.models import User
    from app.sessions.models import IdPSession

    app = flow_app({"authentication": {"secondary_authentication_mode": "disabled"}})  # no second factor
    with services_of(app)() as svc:
        ids = []
        for name in ("count_user_1", "count_user_2"):
            user = svc.users.create_user([("username", name)])
            svc.passwords.create(user.id, "Count-pass-1")
            ids.append(user.id)
        db.session.commit()
        engine = db.engine
    statements: list[str] = []
    commits: list[int] = []

    def on_statement(_conn, _cursor, statement, *_):
        if statement.split(None, 1)[0].upper() != "BEGIN":  # SQLite's BEGIN is a statement
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    counts = []
    try:
        for name in ("count_user_1", "count_user_2", "count_user_1"):
            statements.clear()
            commits.clear()
            body = {
                "type": "login",
                "name": "default",
                "batch_input": [
                    {"identification": "username", "login_id": name},
                    {"authentication": "primary_password", "password": "Count-pass-1"},
                ],
            }
            result = app.test_client().post(FLOWS, json=body).get_json()["result"]
            assert result["action"]["type"] == "finished"
            counts.append((len(statements), len(commits)))
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
    assert counts == [(6, 1)] * 3
    with app.app_context():
        for user_id, logins in zip(ids, (2, 1), strict=True):
            user = db.session.get(User, user_id)
            assert user.last_login_at is not None and user.updated_at >= user.last_login_at
            sessions = select(func.count()).select_from(IdPSession).where(IdPSession.user_id == user_id)
            assert db.session.scalar(sessions) == logins
            audit = select(AuditLog.activity_type).where(AuditLog.user_id == user_id).order_by(AuditLog.id)
            rows = [r for r in db.session.scalars(audit) if r in ("session.created", "user.authenticated")]
            assert rows == ["session.created", "user.authenticated"] * logins


def test_an_id_token_identifies_by_its_signature_alone(flow_app, services_of):
    """Authgear's VerifyIDToken checks only the signature: an ID token of an earlier public origin, or
    with `sub` alone (its e2e generateIDToken), identifies the user, who still authenticates."""
    from app.oidc.keys import SigningKeys

    app = flow_app()
    with services_of(app)() as svc:
        user = svc.users.create_user([("username", "idtoken_user")])
        svc.passwords.create(user.id, "Idtoken-pass-1")
        db.session.commit()
        keys = SigningKeys.from_config(svc.config)
        tokens = [keys.sign({"sub": user.id}), keys.sign({"sub": user.id, "iss": "https://old.example.com"})]
    for token in tokens:
        client = app.test_client()
        start = client.post(FLOWS, json={"type": "reauth", "name": "default"}).get_json()["result"]
        body = {"state_token": start["state_token"], "input": {"identification": "id_token", "id_token": token}}
        result = client.post(INPUT, json=body).get_json()["result"]
        assert result["action"]["type"] == "authenticate"
        assert result["action"]["data"]["options"] == [{"authentication": "primary_password"}]


def test_a_remembered_device_does_not_stand_in_for_a_removed_second_factor(flow_app, services_of):
    """Authgear's e2e login/device_token/disabled_if_no_2fa: once the user's second factor is gone, the
    device token no longer finishes the login; required 2FA then refuses it (NoAuthenticator)."""
    import pyotp

    from app.authenticators.models import Authenticator

    app = flow_app({"authentication": {"secondary_authentication_mode": "required"}})
    secret = pyotp.random_base32(32)
    with services_of(app)() as svc:
        user = svc.users.create_user([("username", "device_user")])
        svc.passwords.create(user.id, "Device-pass-1")
        svc.totp.create(user.id, secret, "TOTP")
        db.session.commit()
        user_id = user.id
    client = app.test_client()

    def login(*inputs):
        start = client.post(FLOWS, json={"type": "login", "name": "default"}).get_json()["result"]
        batch = [{"identification": "username", "login_id": "device_user"}, *inputs]
        return client.post(INPUT, json={"state_token": start["state_token"], "batch_input": batch})

    password = {"authentication": "primary_password", "password": "Device-pass-1"}
    totp = {"authentication": "secondary_totp", "code": pyotp.TOTP(secret).now(), "request_device_token": True}
    assert login(password, totp).get_json()["result"]["action"]["type"] == "finished"
    assert login(password).get_json()["result"]["action"]["type"] == "finished"  # the device is remembered
    with services_of(app)() as svc:
        db.session.delete(
            db.session.scalars(
                select(Authenticator).where(Authenticator.user_id == user_id, Authenticator.type == "totp")
            ).one()
        )
        db.session.commit()
    refused = login(password)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["info"]["cause"] == {"kind": "NoAuthenticator"}
