"""Password logins per second through the Authentication Flow API next to raw argon2id hashes per
second with the configured parameters on the same cores (issues 10 and 23; target: logins at least
0.85 of hashes, since a login is one argon2id verification plus everything around it).

One request per login: `POST /api/v1/authentication_flows` with `type: login` and a `batch_input` of
the identification and the password, which creates the flow, identifies and authenticates, and
answers `finished` with a new IdP session. `wrk` cycles through `--users` users (rate limits off in
the bench's feature config: they exist to stop exactly this). The hash rate is measured with one process per
core right before and right after the logins; the limit is their mean. Because other work on the
machine takes its share of the cores unevenly, the CPU time of a hash and of a login (web workers +
PostgreSQL) are printed too; their quotient is the ratio the cores would give without that work.

    .venv/bin/python bench/login.py
    .venv/bin/python bench/login.py --server granian --seconds 5
"""

from __future__ import annotations

import argparse
import json
import statistics

from harness import (
    CORES,
    SERVERS,
    Row,
    Stack,
    argon2_hashes_per_second,
    bench_project,
    check,
    lua_script,
    machine,
    print_table,
    step,
    write_json,
    wrk,
)
from seed import PASSWORD, users

FLOWS = "/api/v1/authentication_flows"
TARGET = 0.85  # issue 23 (issue 10 had 0.8)
JSON = {"Content-Type": "application/json"}


def body(email: str) -> str:
    return json.dumps(
        {
            "type": "login",
            "name": "default",
            "batch_input": [
                {"identification": "email", "login_id": email},
                {"authentication": "primary_password", "password": PASSWORD},
            ],
        }
    )


def verify(stack: Stack, bodies: list[str]) -> None:
    status, headers, raw = stack.request("POST", FLOWS, bodies[0], JSON)
    result = json.loads(raw).get("result", {}) if status == 200 else {}
    if result.get("action", {}).get("type") != "finished" or "session=" not in headers.get("set-cookie", ""):
        raise SystemExit(f"login did not finish: {status} {raw[:300]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="gunicorn", help="comma-separated: gunicorn,granian")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the wrk run (bounded: 2-60)")
    parser.add_argument("--users", type=int, default=100, help="users to cycle through (bounded: 1-10000)")
    parser.add_argument("--connections", type=int, default=2 * CORES)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    if not 2 <= args.seconds <= 60 or not 1 <= args.users <= 10_000:
        raise SystemExit("--seconds must be between 2 and 60, --users between 1 and 10000")
    servers = [s for s in args.servers.split(",") if s]
    if any(s not in SERVERS for s in servers):
        raise SystemExit(f"servers: {SERVERS}")

    rows: list[Row] = []
    with Stack(bench_project("gatehouse-bench-login"), server=servers[0]) as stack:
        with step(f"seeding {args.users} users with a password"):
            bodies = [body(u.email) for u in users(stack, args.users, roles=0)]
        script = lua_script("POST", headers=JSON, bodies=bodies)
        for server in servers:
            if server != stack.server:
                stack.start_server(server)
            verify(stack, bodies)
            with step(f"{server}: {CORES} workers, wrk {args.connections} connections, {args.seconds:g} s"):
                wrk(stack, FLOWS, seconds=2, connections=args.connections, script=script)  # warm-up
                before = argon2_hashes_per_second(min(args.seconds, 5))
                load = wrk(stack, FLOWS, seconds=args.seconds, connections=args.connections, script=script)
                after = argon2_hashes_per_second(min(args.seconds, 5))
            if load.non_2xx:
                raise SystemExit(f"{load.non_2xx} logins were not 2xx")
            verify(stack, bodies)
            hashes = statistics.fmean([before[0], after[0]])
            hash_cpu_ms = statistics.fmean([before[1], after[1]])
            print(f"  argon2id: {hash_cpu_ms:.1f} CPU ms per hash; a login: {load.cpu_ms:.1f} CPU ms", flush=True)
            rows.append(
                Row(
                    "login",
                    f"{server}: password login (flow API, batch_input)",
                    load.rps,
                    "logins/s",
                    p50_ms=load.p50_ms,
                    p99_ms=load.p99_ms,
                    cpu_ms=load.cpu_ms,
                    limit_name=f"argon2id hashes/s on {CORES} cores",
                    limit=hashes,
                    ratio=load.rps / hashes,
                    target=f">= {TARGET} x hashes",
                    met=check(load.rps / hashes, ">=", TARGET),
                    extra={
                        "server": server,
                        "hashes_before": before[0],
                        "hashes_after": after[0],
                        "hash_cpu_ms": hash_cpu_ms,
                        # CPU per hash / CPU per login (workers + PostgreSQL): the ratio on idle cores.
                        "cpu_ratio": hash_cpu_ms / load.cpu_ms,
                    },
                )
            )
    print_table(rows)
    write_json(args.json, rows, {**machine(), "seconds": args.seconds, "users": args.users})


if __name__ == "__main__":
    main()
