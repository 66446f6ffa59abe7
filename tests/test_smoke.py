import pytest

from tests.factories import make_user, random_password


@pytest.mark.embedded
def test_healthz_reports_database_and_store(client, app):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.get_json()["result"]
    assert body["database"] == "ok"
    assert body["redis"] == ("ok" if app.extensions["gatehouse"].config.redis_url else "disabled")


@pytest.mark.embedded
def test_user_with_password_round_trip(svc):
    password = random_password()
    user = make_user(svc, password=password)
    assert svc.passwords.verify(user.id, password) is not None
    assert svc.passwords.verify(user.id, password + "x") is None
