"""Token endpoint throughput: `client_credentials` and `refresh_token` grants next to the do-nothing
endpoint of the same app (issue 10; targets on 2 cores: 1,000 and 600 per second).

`wrk` (16 connections) POSTs to `/oauth2/token`:
  - client_credentials for an m2m client (client_secret_basic, a `resource`), each issuing a new
    opaque access token row and an audit row;
  - refresh_token for a public client, cycling through 200 offline grants (no rotation), each
    issuing a new access token and touching its grant;
next to `GET /healthz/live`, in interleaved rounds, on each server. A sample of each grant is
checked to answer 200 with an access token before and after.

    .venv/bin/python bench/tokens.py
    .venv/bin/python bench/tokens.py --servers granian --seconds 3 --rounds 1
"""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

from harness import (
    CORES,
    Load,
    Row,
    Stack,
    bench_project,
    check,
    machine,
    median_ratio,
    print_table,
    round_arguments,
    rounds_row,
    step,
    write_json,
    wrk_2xx,
)
from seed import M2M_CLIENT, SPA_CLIENT, client_secret, refresh_tokens, session, users

TOKEN = "/oauth2/token"
BASELINE = "/healthz/live"
CONNECTIONS = 16
GRANTS = 200
TARGETS = {"client_credentials": 1000.0, "refresh_token": 600.0}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def requests_for(stack: Stack) -> dict[str, tuple[dict[str, str], list[str]]]:
    """(headers, bodies) of each grant."""
    secret = client_secret(stack, M2M_CLIENT["client_id"])
    basic = base64.b64encode(f"{M2M_CLIENT['client_id']}:{secret}".encode()).decode()
    user = session(stack, users(stack, 1)[0])
    tokens = refresh_tokens(stack, user, SPA_CLIENT["client_id"], GRANTS)
    return {
        "client_credentials": (
            {**FORM, "Authorization": f"Basic {basic}"},
            [urlencode({"grant_type": "client_credentials", "resource": "https://api.example.com/"})],
        ),
        "refresh_token": (
            FORM,
            [
                urlencode({"grant_type": "refresh_token", "client_id": SPA_CLIENT["client_id"], "refresh_token": t})
                for t in tokens
            ],
        ),
    }


def verify(stack: Stack, grants: dict[str, tuple[dict[str, str], list[str]]]) -> None:
    for name, (headers, bodies) in grants.items():
        status, _, body = stack.request("POST", TOKEN, bodies[0], headers)
        if status != 200 or "access_token" not in json.loads(body):
            raise SystemExit(f"{name}: {status} {body[:300]!r}")


def run(stack: Stack, seconds: float, path: str, headers: dict[str, str] | None = None, bodies=()) -> Load:
    return wrk_2xx(stack, path, seconds, CONNECTIONS, headers, bodies)


def main() -> None:
    args, servers = round_arguments(__doc__, rounds=2)

    rows: list[Row] = []
    project = bench_project("gatehouse-bench-tokens", [SPA_CLIENT, M2M_CLIENT])
    with Stack(project, server=servers[0]) as stack:
        with step(f"seeding an m2m client secret and {GRANTS} offline grants"):
            grants = requests_for(stack)
        for server in servers:
            if server != stack.server:
                stack.start_server(server)
            verify(stack, grants)
            runs: dict[str, list[Load]] = {name: [] for name in ["baseline", *grants]}
            with step(f"{server}: {CORES} workers, wrk {CONNECTIONS} connections, {args.rounds} x {args.seconds:g} s"):
                run(stack, 2, BASELINE)
                for headers, bodies in grants.values():
                    run(stack, 2, TOKEN, headers, bodies)
                for _ in range(args.rounds):
                    runs["baseline"].append(run(stack, args.seconds, BASELINE))
                    for name, (headers, bodies) in grants.items():
                        runs[name].append(run(stack, args.seconds, TOKEN, headers, bodies))
            verify(stack, grants)
            base_runs = runs.pop("baseline")
            baseline = rounds_row(
                "tokens", f"{server}: GET {BASELINE} (baseline)", base_runs, "req/s", extra={"server": server}
            )
            rows.append(baseline)
            for name, loads in runs.items():
                row = rounds_row(
                    "tokens",
                    f"{server}: {name} grants",
                    loads,
                    "grants/s",
                    limit_name="baseline",
                    limit=baseline.value,
                    ratio=median_ratio(loads, base_runs),
                    target=f">= {TARGETS[name]:,.0f}/s",
                    extra={"server": server, "rounds_rps": [r.rps for r in loads]},
                )
                row.met = check(row.value, ">=", TARGETS[name])
                rows.append(row)
    print_table(rows)
    write_json(args.json, rows, {**machine(), "connections": CONNECTIONS, "seconds": args.seconds})


if __name__ == "__main__":
    main()
