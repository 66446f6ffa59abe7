"""`kill -9` of the worker while a non-blocking handler is still answering: another worker takes
the event over and it is recorded as delivered once. The receiver sees it a second time with the
same `id` (the dead worker never learned the answer), which is Authgear's at-least-once contract
and what README promises: a resend only when a worker dies between the answer and recording it."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis
import yaml
from rq import Queue, Worker
from sqlalchemy import select

from app.extensions import db
from app.hooks import delivery
from app.tasks.models import BackgroundTask
from tests.bulk.conftest import WorkerProcess
from tests.conftest import BACKEND, REDIS_URL
from tests.factories import TEST_PROJECT
from tests.hooks.conftest import signup

SLOW_ANSWER_SECONDS = 12.0  # the first delivery's answer: the kill lands well inside it


@pytest.mark.skipif(BACKEND == "embedded", reason="needs Redis and worker processes")
def test_worker_killed_mid_delivery_event_delivered_once(hook_app, receiver, hook_secrets, tmp_path, database_url):
    prefix = f"hooks-{uuid.uuid4().hex[:8]}:"
    hook = {"non_blocking_handlers": [{"events": ["user.created"], "url": receiver.url("events")}]}
    arrivals: list[dict] = []
    arrived = threading.Event()

    def answer(event: dict) -> tuple:
        arrivals.append(event)
        arrived.set()
        return (200, {}, SLOW_ANSWER_SECONDS) if len(arrivals) == 1 else (200, {})

    receiver.answers["events"] = answer
    project = {**TEST_PROJECT, "hook": hook}
    (tmp_path / "authgear.yaml").write_text(yaml.safe_dump(project), encoding="utf-8")
    items = [{"key": k, "data": v} for k, v in hook_secrets.items()]
    (tmp_path / "authgear.secrets.yaml").write_text(yaml.safe_dump({"secrets": items}), encoding="utf-8")
    # worker.py's defaults: a 5 s lease and a recovery round every 2 s.
    workers = [WorkerProcess(tmp_path, database_url, prefix, lease=None, maintenance=None).start() for _ in range(2)]
    try:
        _kill_mid_delivery(hook_app, hook, receiver, prefix, workers, arrivals, arrived)
    finally:
        for w in workers:
            w.stop()


def _kill_mid_delivery(hook_app, hook, receiver, prefix, workers, arrivals, arrived) -> None:
    queue = Queue(prefix + delivery.QUEUE, connection=redis.Redis.from_url(REDIS_URL))
    deadline = time.monotonic() + 120
    while len(Worker.all(queue=queue)) < 2:  # both are listening
        assert time.monotonic() < deadline, [w.log() for w in workers]
        time.sleep(0.05)

    app = hook_app(hook, queue_prefix=prefix)
    assert signup(app.test_client(), "killed1").status_code == 200
    assert arrived.wait(30), [w.log() for w in workers]
    busy = {w.pid for w in Worker.all(queue=queue) if w.get_current_job_id()}
    assert len(busy) == 1, busy
    victim = next(w for w in workers if w.pid in busy)
    survivor = next(w for w in workers if w is not victim)
    victim.kill()  # the receiver is still holding its answer back
    killed_at = time.monotonic()

    deadline = time.monotonic() + 60
    while len(arrivals) < 2:
        assert time.monotonic() < deadline, survivor.log()
        time.sleep(0.05)
    print(f"resent {time.monotonic() - killed_at:.1f} s after the kill")
    assert arrivals[1]["id"] == arrivals[0]["id"]
    assert arrivals[1]["type"] == "user.created"

    deadline = time.monotonic() + 30
    while True:
        with app.app_context():
            (task,) = db.session.scalars(select(BackgroundTask).where(BackgroundTask.kind == delivery.KIND)).all()
            db.session.expunge_all()
        if task.status == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert task.status == "completed", survivor.log()
    (handler,) = task.progress["handlers"]
    # One answer recorded: the dead worker's delivery never was, the survivor's once.
    assert handler["state"] == "delivered" and handler["attempts"] == 1 and "error" not in handler, handler
    assert task.input["event"]["id"] == arrivals[0]["id"]
    assert "re-enqueued" in survivor.log()

    # Nothing more comes: the slow first answer ends in a dead connection, and recovery rounds
    # leave a completed event alone.
    time.sleep(SLOW_ANSWER_SECONDS - (time.monotonic() - killed_at) + 3)
    assert len(arrivals) == 2
    assert [e["id"] for e in receiver.events["events"]] == [arrivals[0]["id"]] * 2
