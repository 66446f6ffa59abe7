"""A running job's lease on Redis, as recovery sees it: kept alive by its own thread however long
one step of the job takes, taken by one worker only, paused after an error, and given up (the job
told to stop) when it cannot be kept."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from app.jobs import runner as runner_module
from app.jobs.runner import RQRunner
from tests.conftest import BACKEND, REDIS_URL

pytestmark = pytest.mark.skipif(BACKEND == "embedded", reason="needs Redis")


@pytest.fixture
def rq_runner() -> RQRunner:
    return RQRunner(redis.Redis.from_url(REDIS_URL), f"gatehouse-test-{uuid.uuid4().hex[:12]}:", lease_seconds=1)


def test_a_held_task_stays_alive_through_a_long_step_and_runs_once(rq_runner):
    task_id = f"userimporttask_{uuid.uuid4().hex}"
    assert not rq_runner.is_alive(task_id)
    with rq_runner.hold(task_id) as lease:
        assert lease is not None
        time.sleep(3)  # three leases long, with no sign of life from the job itself
        assert rq_runner.is_alive(task_id) and not lease.lost
        with rq_runner.hold(task_id) as second:
            assert second is None  # a second worker given the same task does not run it
    assert not rq_runner.is_alive(task_id)  # finished: recovery may enqueue it again if still pending
    with rq_runner.hold(task_id) as again:
        assert again is not None


def test_a_job_that_raised_is_retried_after_a_pause(rq_runner, monkeypatch):
    monkeypatch.setattr(runner_module, "RETRY_AFTER_ERROR_SECONDS", 2)
    task_id = f"userimporttask_{uuid.uuid4().hex}"
    with pytest.raises(RuntimeError), rq_runner.hold(task_id):
        raise RuntimeError("database restarting")
    assert rq_runner.is_alive(task_id)  # not re-enqueued at the next round
    time.sleep(2.2)
    assert not rq_runner.is_alive(task_id)


def test_a_lease_that_cannot_be_renewed_tells_the_job_to_stop(rq_runner):
    task_id = f"userimporttask_{uuid.uuid4().hex}"
    with rq_runner.hold(task_id) as lease:
        assert lease is not None
        rq_runner.connection.delete(f"gatehouse:jobs:lease:{task_id}")  # expired during an outage
        deadline = time.monotonic() + 2
        while not lease.lost:
            assert time.monotonic() < deadline
            time.sleep(0.05)
