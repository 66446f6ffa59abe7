"""Where a request's CPU time goes, for the paths whose issue 23 targets are not met: the
client_credentials and refresh_token grants (bench/tokens.py) and a password login (bench/login.py).

Each path runs in this process, one request at a time through Flask's test client (no HTTP server,
no other load on the cores), against the bench's PostgreSQL database and Redis. The CPU time of the
process is split by timing, around every request, what the libraries under the app spend:
  - SQL: the session's and connections' execute/scalars/scalar/get (the ORM's setup, SQLAlchemy's
    execution, psycopg and the round trip; the first statement of a request also carries psycopg's
    BEGIN, a round trip of its own); ORM objects built as the code reads rows count in the rest;
  - COMMIT: the unit of work's flush (statements it writes are counted above, timed here) and COMMIT;
  - RS256: the signatures of ID tokens and JWT access tokens (joserfc over `cryptography`);
  - argon2id: the password verification;
  - the rest: Flask, authlib's protocol checks, the flow engine and Gatehouse's own code.
The PostgreSQL server's CPU per request (its processes, read from /proc) is printed beside it. The
figures are the best of three batches; under load on 2 shared cores (bench/tokens.py, login.py) a
request costs 1.3-1.8 x more CPU than here, for every part alike.

    .venv/bin/python bench/cost_breakdown.py
    .venv/bin/python bench/cost_breakdown.py --requests 600
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import login
import tokens
from harness import Stack, bench_project
from seed import M2M_JWT_CLIENT, SPA_CLIENT, users

PARTS = ("SQL", "COMMIT", "RS256", "argon2id")


class PartTimer:
    """CPU seconds spent inside the wrapped functions, per part (a call inside another timed call
    is the outer call's time: the statements a COMMIT flushes are the COMMIT's), and the number of
    statements."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()
        self.statements = 0
        self._depth = 0

    def wrap(self, owner: Any, name: str, part: str, *, statement: bool = False) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.statements += statement
            if self._depth:
                return original(*args, **kwargs)
            self._depth += 1
            started = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[part] += time.process_time() - started
                self._depth -= 1

        setattr(owner, name, timed)


def postgres_cpu_seconds() -> float:
    """CPU seconds of every process named postgres on this machine (Linux /proc)."""
    ticks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() != "postgres":
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def instrumented() -> Iterator[PartTimer]:
    import argon2
    from sqlalchemy.engine.base import Connection
    from sqlalchemy.orm.session import Session, SessionTransaction

    from app.oidc.keys import SigningKeys

    timer = PartTimer()
    parts = [
        *((Session, name, "SQL") for name in ("execute", "scalars", "scalar", "get")),
        (Connection, "execute", "SQL"),
        (SessionTransaction, "commit", "COMMIT"),
        (SigningKeys, "sign", "RS256"),
        (argon2.PasswordHasher, "verify", "argon2id"),
    ]
    originals = [
        (owner, name, getattr(owner, name)) for owner, name, _ in [*parts, (Connection, "_execute_context", "")]
    ]
    for owner, name, part in parts:
        timer.wrap(owner, name, part)
    timer.wrap(Connection, "_execute_context", "SQL", statement=True)  # every statement passes here once
    try:
        yield timer
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def measure(send: Callable[[int], Any], requests: int, timer: PartTimer) -> dict[str, float]:
    for i in range(50):
        send(i)  # warm: pooled connections, prepared statements, caches
    best: dict[str, float] | None = None
    for _ in range(3):
        timer.seconds.clear()
        timer.statements = 0
        pg_before, started = postgres_cpu_seconds(), time.process_time()
        for i in range(requests):
            send(i)
        total = (time.process_time() - started) / requests * 1000
        batch = {part: timer.seconds[part] / requests * 1000 for part in PARTS}
        batch.update(
            total=total,
            statements=timer.statements / requests,
            postgres=(postgres_cpu_seconds() - pg_before) / requests * 1000,
        )
        if best is None or batch["total"] < best["total"]:
            best = batch
    assert best is not None
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="requests per batch (3 batches per path)")
    args = parser.parse_args()
    project = bench_project("gatehouse-bench-costs", [SPA_CLIENT, M2M_JWT_CLIENT])
    results: dict[str, dict[str, float]] = {}
    with Stack(project, workers=1) as stack:
        grants, _ = tokens.requests_for(stack)
        emails = [u.email for u in users(stack, 20)]
        app = stack.app()
        client = app.test_client(use_cookies=False)  # as wrk: no cookie carried from one request to the next

        def grant(name: str) -> Callable[[int], Any]:
            headers, bodies = grants[name]

            def send(i: int) -> None:
                resp = client.post(tokens.TOKEN, data=bodies[i % len(bodies)], headers=headers)
                if resp.status_code != 200:
                    raise SystemExit(f"{name}: {resp.status_code} {resp.data[:300]!r}")

            return send

        def password_login(i: int) -> None:
            resp = client.post(login.FLOWS, data=login.body(emails[i % len(emails)]), headers=login.JSON)
            if resp.status_code != 200 or b'"finished"' not in resp.data:
                raise SystemExit(f"login: {resp.status_code} {resp.data[:300]!r}")

        with instrumented() as timer:
            results["GET /healthz/live (the floor: Flask, the app's hooks, the test client)"] = measure(
                lambda _: client.get("/healthz/live"), args.requests, timer
            )
            results["client_credentials grant"] = measure(grant("client_credentials"), args.requests, timer)
            results["refresh_token grant"] = measure(grant("refresh_token"), args.requests, timer)
            results["password login (flow API)"] = measure(password_login, max(args.requests // 4, 20), timer)

    print(f"| path | CPU ms | statements | {' | '.join(f'{p} ms' for p in PARTS)} | the rest ms | PostgreSQL CPU ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path, r in results.items():
        rest = r["total"] - sum(r[p] for p in PARTS)
        print(
            f"| {path} | {r['total']:.2f} | {r['statements']:.0f} | {r['SQL']:.2f} | {r['COMMIT']:.2f} | "
            f"{r['RS256']:.2f} | {r['argon2id']:.2f} | {rest:.2f} | {r['postgres']:.2f} |"
        )


if __name__ == "__main__":
    main()
