"""Non-blocking events: written with the change, delivered after the commit by the job runner,
retried with backoff, never sent for a rolled-back change and not lost while no worker runs."""

from __future__ import annotations

import time
import uuid

import pytest
import yaml
from sqlalchemy import select

from app.extensions import db
from app.hooks import delivery
from app.tasks.models import BackgroundTask
from tests.bulk.conftest import WorkerProcess
from tests.conftest import BACKEND
from tests.factories import TEST_PROJECT
from tests.hooks.conftest import login, signup


def _tasks_when_done(app, timeout: float = 5.0) -> list[BackgroundTask]:
    """The event tasks once every one has completed (its outcome commits just after the answer)."""
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            rows = db.session.scalars(select(BackgroundTask).where(BackgroundTask.kind == delivery.KIND)).all()
            db.session.expunge_all()
        if {r.status for r in rows} == {"completed"} or time.monotonic() > deadline:
            assert {r.status for r in rows} == {"completed"}
            return rows
        time.sleep(0.1)


def _hook(receiver, events=("user.created", "user.authenticated")):
    return {"non_blocking_handlers": [{"events": list(events), "url": receiver.url("events")}]}


@pytest.mark.embedded
def test_events_are_delivered_after_commit_and_retried(hook_app, receiver, monkeypatch):
    answers = iter([(500, {})])
    receiver.answers["events"] = lambda e: next(answers, (200, {}))
    app = hook_app(_hook(receiver), redis_url=None)  # jobs in a thread of this process
    client = app.test_client()
    assert signup(client, "nb1").status_code == 200
    # The first delivery of user.created fails (500); the retry comes after the 5 s backoff, at the
    # next recovery round of the thread runner (every 10 s).
    got = receiver.wait("events", 3, timeout=30)
    created = [e for e in got if e["type"] == "user.created"]
    assert len(created) == 2 and created[0]["id"] == created[1]["id"]
    payload = created[1]["payload"]
    assert payload["user"]["standard_attributes"]["preferred_username"] == "nb1"
    assert payload["identities"][0]["type"] == "login_id"
    authenticated = [e for e in got if e["type"] == "user.authenticated"]
    assert authenticated[0]["payload"]["session"]["type"] == "idp"
    assert authenticated[0]["context"]["user_id"] == payload["user"]["id"]
    rows = _tasks_when_done(app)
    with app.app_context():
        attempts = sorted(h["attempts"] for r in rows for h in r.progress["handlers"])
        assert attempts == [1, 2]


@pytest.mark.embedded
def test_no_event_for_a_rolled_back_change(hook_app, receiver):
    receiver.answers["pre"] = lambda e: (200, {"is_allowed": False})
    hook = _hook(receiver, ["*"])
    hook["blocking_handlers"] = [{"event": "user.pre_create", "url": receiver.url("pre")}]
    app = hook_app(hook, redis_url=None)
    assert signup(app.test_client(), "rolledback1").status_code == 403
    assert receiver.wait("events", 1, timeout=3) == []
    with app.app_context():
        assert db.session.scalars(select(BackgroundTask).where(BackgroundTask.kind == delivery.KIND)).all() == []


@pytest.mark.skipif(BACKEND == "embedded", reason="needs Redis and a worker process")
def test_events_wait_for_a_worker_and_are_delivered_once(hook_app, receiver, hook_secrets, database_url, tmp_path):
    prefix = f"hooks-{uuid.uuid4().hex[:8]}:"
    hook = _hook(receiver, ["user.created", "user.authenticated"])
    app = hook_app(hook, queue_prefix=prefix)
    client = app.test_client()
    assert signup(client, "worker1").status_code == 200
    assert login(client, "worker1").status_code == 200
    assert receiver.wait("events", 1, timeout=2) == []  # no worker yet: queued, not lost
    project = {**TEST_PROJECT, "hook": hook}
    (tmp_path / "authgear.yaml").write_text(yaml.safe_dump(project), encoding="utf-8")
    items = [{"key": k, "data": v} for k, v in hook_secrets.items()]
    (tmp_path / "authgear.secrets.yaml").write_text(yaml.safe_dump({"secrets": items}), encoding="utf-8")
    worker = WorkerProcess(tmp_path, database_url, prefix).start()
    try:
        got = receiver.wait("events", 3, timeout=30)
    finally:
        worker.stop()
    assert sorted(e["type"] for e in got) == ["user.authenticated", "user.authenticated", "user.created"]
    assert len({e["id"] for e in got}) == 3


def test_demo_project_gets_a_webhook_secret(tmp_path):
    """`make run`'s project (ensure_project_dir) has a `webhook` key like Authgear's generated one,
    so a handler added to its authgear.yaml works without editing the secrets."""
    import base64
    import hashlib
    import hmac

    from app.hooks import webhook
    from app.project_files import ensure_project_dir

    written = ensure_project_dir(tmp_path)
    assert written
    items = yaml.safe_load((tmp_path / "authgear.secrets.yaml").read_text())["secrets"]
    (item,) = [i for i in items if i["key"] == "webhook"]
    (key,) = item["data"]["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("oct", "HS256", "sig") and key["kid"]
    raw = webhook.webhook_key({"webhook": item["data"]})
    assert raw == base64.urlsafe_b64decode(key["k"] + "=" * (-len(key["k"]) % 4)) and len(raw) >= 32
    assert webhook.sign(b"{}", raw) == hmac.new(raw, b"{}", hashlib.sha256).hexdigest()
    ensure_project_dir(tmp_path)  # a second start keeps the key
    again = yaml.safe_load((tmp_path / "authgear.secrets.yaml").read_text())["secrets"]
    assert [i for i in again if i["key"] == "webhook"] == [item]
