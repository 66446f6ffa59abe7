"""Peak RSS of each web worker after 10,000 mixed requests (issue 10; target: below 150 MB each).

The mix, sent by 8 threads over kept-alive connections (reopened when the server closes them):
resolver with a bearer token and with a cookie, `/healthz/live`, client_credentials and refresh
grants, UserInfo, Admin API user pages, Authentication Flow API creates and password logins, and a
hosted login page. Every answer must be 2xx or a redirect. Peak RSS is each worker's `VmHWM` from /proc.

    .venv/bin/python bench/memory.py
    .venv/bin/python bench/memory.py --server granian --requests 2000
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import random
import threading
import time
from urllib.parse import urlencode

from harness import (
    CORES,
    SERVERS,
    Row,
    Stack,
    admin_token,
    bench_project,
    check,
    machine,
    print_table,
    step,
    write_json,
)
from seed import (
    M2M_JWT_CLIENT,
    PASSWORD,
    RESOURCE,
    SCOPES,
    SPA_CLIENT,
    access_token,
    client_secret,
    refresh_tokens,
    register_resource,
    session,
    users,
)

TARGET_MB = 150.0
THREADS = 8
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}
ADMIN_QUERY = "{ users(first: 20) { totalCount edges { node { id identities { edges { node { claims } } } } } } }"


def mix(stack: Stack) -> list[tuple[int, str, str, str | None, dict[str, str]]]:
    """(weight, name, method, path, body, headers) of each kind of request."""
    people = users(stack, 20)
    user = session(stack, people[0])
    bearer = {"Authorization": f"Bearer {access_token(stack, user, SPA_CLIENT['client_id'])}"}
    refresh = refresh_tokens(stack, user, SPA_CLIENT["client_id"], 1)[0]
    register_resource(stack)
    secret = client_secret(stack, M2M_JWT_CLIENT["client_id"])
    basic = base64.b64encode(f"{M2M_JWT_CLIENT['client_id']}:{secret}".encode()).decode()
    login = {
        "type": "login",
        "name": "default",
        "batch_input": [
            {"identification": "email", "login_id": people[1].email},
            {"authentication": "primary_password", "password": PASSWORD},
        ],
    }
    return [
        (25, "resolve bearer", "GET", "/_resolver/resolve", None, bearer),
        (15, "resolve cookie", "GET", "/_resolver/resolve", None, {"Cookie": f"session={user.session_token}"}),
        (15, "liveness", "GET", "/healthz/live", None, {}),
        (
            12,
            "client_credentials",
            "POST",
            "/oauth2/token",
            urlencode({"grant_type": "client_credentials", "resource": RESOURCE, "scope": " ".join(SCOPES)}),
            {**FORM, "Authorization": f"Basic {basic}"},
        ),
        (
            10,
            "refresh_token",
            "POST",
            "/oauth2/token",
            urlencode({"grant_type": "refresh_token", "client_id": SPA_CLIENT["client_id"], "refresh_token": refresh}),
            FORM,
        ),
        (8, "userinfo", "GET", "/oauth2/userinfo", None, bearer),
        (
            5,
            "admin users page",
            "POST",
            "/_api/admin/graphql",
            json.dumps({"query": ADMIN_QUERY}),
            {**JSON, "Authorization": f"Bearer {admin_token(stack.secrets, stack.project['id'])}"},
        ),
        (
            6,
            "flow create",
            "POST",
            "/api/v1/authentication_flows",
            json.dumps({"type": "login", "name": "default"}),
            JSON,
        ),
        (2, "password login", "POST", "/api/v1/authentication_flows", json.dumps(login), JSON),
        (2, "login page", "GET", "/login", None, {}),
    ]


def drive(stack: Stack, requests: list, count: int, deadline: float) -> dict[str, int]:
    """Sends `count` requests drawn from the weighted mix; returns the count of each kind."""
    rng = random.Random(10)
    weights = [r[0] for r in requests]
    plan = rng.choices(range(len(requests)), weights=weights, k=count)
    lock = threading.Lock()
    sent: dict[str, int] = {}
    failures: list[str] = []

    def worker(part: list[int]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
        for index in part:
            if time.monotonic() > deadline or failures:
                return
            _, name, method, path, body, headers = requests[index]
            for attempt in (1, 2):
                try:
                    conn.request(method, path, body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    break
                except (http.client.HTTPException, OSError):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
                    if attempt == 2:
                        raise
            if resp.will_close:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
            with lock:
                sent[name] = sent.get(name, 0) + 1
                if not 200 <= resp.status < 400:
                    failures.append(f"{name}: {resp.status}")
        conn.close()

    threads = [threading.Thread(target=worker, args=(plan[i::THREADS],)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"requests failed: {failures[:5]}")
    if sum(sent.values()) < count:
        raise SystemExit(f"only {sum(sent.values())} of {count} requests were sent before the time limit")
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="gunicorn", choices=SERVERS)
    parser.add_argument("--requests", type=int, default=10_000, help="bounded: 100-50000")
    parser.add_argument("--max-seconds", type=float, default=600, help="give up after this long")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    if not 100 <= args.requests <= 50_000:
        raise SystemExit("--requests must be between 100 and 50000")

    rows: list[Row] = []
    project = bench_project("gatehouse-bench-memory", [SPA_CLIENT, M2M_JWT_CLIENT])
    with Stack(project, server=args.server) as stack:
        with step("seeding users, a session, tokens and clients"):
            requests = mix(stack)
        with step(f"{args.server}: {CORES} workers, {args.requests:,} mixed requests from {THREADS} threads"):
            started = time.monotonic()
            sent = drive(stack, requests, args.requests, started + args.max_seconds)
            elapsed = time.monotonic() - started
        print("  " + ", ".join(f"{k} {v}" for k, v in sorted(sent.items())), flush=True)
        peaks = stack.peak_rss_mb()
        for n, (pid, mb) in enumerate(sorted(peaks.items()), 1):
            rows.append(
                Row(
                    "memory",
                    f"{args.server}: worker {n} peak RSS after {args.requests:,} mixed requests",
                    mb,
                    "MB",
                    target=f"< {TARGET_MB:.0f} MB",
                    met=check(mb, "<", TARGET_MB),
                    extra={"pid": pid, "seconds": elapsed, "mix": sent},
                )
            )
    print_table(rows)
    write_json(args.json, rows, {**machine(), "requests": args.requests})


if __name__ == "__main__":
    main()
