"""Resolver throughput and latency next to a do-nothing endpoint of the same app (issue 6).

Serves the app with gunicorn (sync workers) and then granian (WSGI), as many workers as cores, on a
throwaway PostgreSQL database and a Redis prefix of its own, and drives `/_resolver/resolve` with
`wrk` (16 connections) carrying:
  - an opaque bearer access token,
  - a JWT bearer access token (validated from memory, then its row looked up for revocation),
  - the IdP session cookie,
next to `GET /healthz/live`, and that next to the same endpoint of a bare Flask app on the same
server (bench/bare_app.py: the app's own floor, target 0.8), in interleaved rounds. Prints requests
per second, p50/p99, CPU per request (web workers + their PostgreSQL backends) and resolver/baseline
ratios (target: at least 0.6 with a p99 of at most 10 ms; the median of the rounds' ratios, each
round's printed after the table). Before and after the load, each credential is checked to resolve
with `X-Authgear-Session-Valid: true`.

    .venv/bin/python bench/resolver.py                    # both servers, 3 rounds of 4 s per figure
    .venv/bin/python bench/resolver.py --servers gunicorn --seconds 4
"""

from __future__ import annotations

import contextlib
import http.client
import subprocess
import time
from collections.abc import Iterator

from harness import (
    BIN,
    CORES,
    ROOT,
    Load,
    Row,
    Stack,
    _children,
    _cpu_of,
    bench_project,
    check,
    free_port,
    machine,
    median_ratio,
    print_table,
    round_arguments,
    rounds_row,
    step,
    stop_process,
    write_json,
    wrk_2xx,
)
from seed import JWT_CLIENT, SPA_CLIENT, access_token, session, users

RESOLVE = "/_resolver/resolve"
BASELINE = "/healthz/live"
TARGET = 0.6
FLOOR_TARGET = 0.8
P99_TARGET_MS = 10.0
CONNECTIONS = 16


class BareServer:
    """bench/bare_app.py on the same server and number of workers as the stack: the anchor of the
    app's own floor (`GET /healthz/live` of Gatehouse against that of a bare Flask app)."""

    def __init__(self, server: str, workers: int) -> None:
        self.port = free_port()
        if server == "gunicorn":
            cmd = [
                str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{self.port}",
                "--log-level", "warning", "--backlog", "2048", "bare_app:create_app()",
            ]  # fmt: skip
        else:
            cmd = [
                str(BIN / "granian"), "--interface", "wsgi", "--factory", "--workers", str(workers),
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning", "--no-ws",
                "bare_app:create_app",
            ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, cwd=ROOT / "bench", start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", BASELINE)
                if conn.getresponse().status == 200 and len(_children(self.proc.pid)) >= workers:
                    return
            time.sleep(0.3)
        stop_process(self.proc)
        raise SystemExit("the bare Flask app did not start")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        return sum(_cpu_of(pid) for pid in _children(self.proc.pid))


@contextlib.contextmanager
def bare_server(server: str, workers: int) -> Iterator[BareServer]:
    bare = BareServer(server, workers)
    try:
        yield bare
    finally:
        stop_process(bare.proc)


def verify(stack: Stack, credentials: dict[str, dict[str, str]]) -> None:
    for name, headers in credentials.items():
        status, got, body = stack.request("GET", RESOLVE, headers=headers)
        if status != 200 or got.get("x-authgear-session-valid") != "true" or body:
            raise SystemExit(f"{name}: the resolver did not resolve it ({status}, {got})")
        if got.get("x-authgear-user-roles") != "bench_role_0,bench_role_1":
            raise SystemExit(f"{name}: unexpected roles {got.get('x-authgear-user-roles')!r}")


def run(stack: Stack, path: str, seconds: float, headers: dict[str, str] | None = None) -> Load:
    return wrk_2xx(stack, path, seconds, CONNECTIONS, headers)


def figures(server: str, runs: dict[str, list[Load]]) -> list[Row]:
    """Throughput summed over the rounds; each ratio is the median of the per-round ratios (each
    round's ratios are kept in `extra` and printed by `print_round_ratios`)."""
    bare_runs = runs.pop("bare")
    base_runs = runs.pop("baseline")
    bare = rounds_row(
        "resolver",
        f"{server}: GET {BASELINE} of a bare Flask app",
        bare_runs,
        "req/s",
        extra={"server": server, "rounds_rps": [r.rps for r in bare_runs]},
    )
    floor = median_ratio(base_runs, bare_runs)
    baseline = rounds_row(
        "resolver",
        f"{server}: GET {BASELINE} (baseline; the app's floor)",
        base_runs,
        "req/s",
        limit_name="bare Flask",
        limit=bare.value,
        ratio=floor,
        target=f">= {FLOOR_TARGET} x bare Flask",
        met=check(floor, ">=", FLOOR_TARGET),
        extra={
            "server": server,
            "rounds_rps": [r.rps for r in base_runs],
            "rounds_ratio": [r.rps / b.rps for r, b in zip(base_runs, bare_runs, strict=True)],
            "anchor": bare.name,
        },
    )
    rows = [bare, baseline]
    for name, loads in runs.items():
        ratio = median_ratio(loads, base_runs)
        row = rounds_row(
            "resolver",
            f"{server}: resolve, {name}",
            loads,
            "req/s",
            limit_name="baseline",
            limit=baseline.value,
            ratio=ratio,
            target=f">= {TARGET} x baseline, p99 <= {P99_TARGET_MS:g} ms",
            extra={
                "server": server,
                "rounds_rps": [r.rps for r in loads],
                "rounds_ratio": [r.rps / b.rps for r, b in zip(loads, base_runs, strict=True)],
                "rounds_p99_ms": [r.p99_ms for r in loads],
                "anchor": baseline.name,
            },
        )
        row.met = check(ratio, ">=", TARGET) and row.p99_ms is not None and row.p99_ms <= P99_TARGET_MS
        rows.append(row)
    return rows


def print_round_ratios(rows: list[Row]) -> None:
    """Each ratio's value in every round (the table shows their median), the range of a noisy run,
    and the same comparison in CPU per request, which moves less when other work shares the cores."""
    cpu = {row.name: row.cpu_ms for row in rows}
    for row in rows:
        if not row.extra.get("rounds_ratio"):
            continue
        rounds = ", ".join(f"{r:.2f}" for r in row.extra["rounds_ratio"])
        line = f"{row.name}: {row.ratio:.2f} x {row.limit_name} (rounds: {rounds})"
        anchor = cpu.get(row.extra["anchor"])
        if anchor and row.cpu_ms:
            line += f"; CPU ms/req {row.cpu_ms:.3f} against {anchor:.3f}: {anchor / row.cpu_ms:.2f}"
        print(line, flush=True)


def main() -> None:
    args, servers = round_arguments(__doc__, rounds=3)

    rows: list[Row] = []
    project = bench_project("gatehouse-bench-resolver", [SPA_CLIENT, JWT_CLIENT])
    with Stack(project, server=servers[0]) as stack:
        with step("seeding a user with two roles, a session and two access tokens"):
            user = session(stack, users(stack, 1)[0])
            credentials = {
                "bearer (opaque)": {"Authorization": f"Bearer {access_token(stack, user, SPA_CLIENT['client_id'])}"},
                "bearer (JWT)": {"Authorization": f"Bearer {access_token(stack, user, JWT_CLIENT['client_id'])}"},
                "IdP session cookie": {"Cookie": f"session={user.session_token}"},
            }
        for server in servers:
            if server != stack.server:
                stack.start_server(server)
            verify(stack, credentials)
            runs: dict[str, list[Load]] = {name: [] for name in ["bare", "baseline", *credentials]}
            with (
                step(
                    f"{server}: {CORES} workers, wrk {CONNECTIONS} connections, "
                    f"{args.rounds} rounds of {args.seconds:g} s per figure"
                ),
                bare_server(server, stack.workers) as bare,
            ):
                run(bare, BASELINE, 2)  # type: ignore[arg-type]  # wrk reads base_url and cpu_seconds
                run(stack, BASELINE, 2)  # warm-up: imports, connection pools
                for headers in credentials.values():
                    run(stack, RESOLVE, 2, headers)
                # Rounds interleave the baseline with the resolver runs, so a load that other work
                # puts on the machine for a while weighs on both sides of a ratio.
                for _ in range(args.rounds):
                    runs["bare"].append(run(bare, BASELINE, args.seconds))  # type: ignore[arg-type]
                    runs["baseline"].append(run(stack, BASELINE, args.seconds))
                    for name, headers in credentials.items():
                        runs[name].append(run(stack, RESOLVE, args.seconds, headers))
            verify(stack, credentials)
            rows += figures(server, runs)
    print_table(rows)
    print_round_ratios(rows)
    write_json(args.json, rows, {**machine(), "connections": CONNECTIONS, "seconds": args.seconds})


if __name__ == "__main__":
    main()
