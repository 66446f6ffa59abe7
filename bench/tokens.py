"""Token endpoint throughput: `client_credentials` next to node `oidc-provider`, and `refresh_token`
(issue 23; targets on 2 cores: client_credentials >= 0.4 x oidc-provider in the same run, refresh_token
>= 1,000 per second).

`wrk` (16 connections) POSTs to `/oauth2/token`:
  - client_credentials for an m2m client that issues JWT access tokens (client_secret_basic, a
    `resource` registered and linked to the client, two scopes asked for), each signing an RFC 9068
    access token (RS256) and writing an audit row (client tokens are not stored, as in Authgear);
  - refresh_token for a public client, cycling through 200 offline grants (no rotation), each
    issuing a new opaque access token and touching its grant;
next to `GET /healthz/live`, in interleaved rounds, on each server. A sample of each grant is
checked to answer 200 with an access token before and after.

The anchor of client_credentials is panva/node-oidc-provider (OpenID Certified; the version pinned
in tests/sso/upstream/package.json, installed there by `npm ci`), started by this script on the same
machine (bench/oidc_provider_anchor.mjs): the same client ID and secret, the same resource and
scopes, JWT access tokens signed RS256 with the stack's own signing key, the same request bodies.
It runs in the same rounds, right after Gatehouse's client_credentials run, so both see the same
machine. Configuration, printed at the start: Gatehouse as the harness serves it (gunicorn sync
workers or granian WSGI, one worker per core, PostgreSQL and Redis on the same cores) against one
Node process (Node's usual deployment, one event loop). The ratio is therefore the app against a
single-process reference on the same cores, not per core. bench/cost_breakdown.py splits the CPU
time of each grant into its parts.

    .venv/bin/python bench/tokens.py
    .venv/bin/python bench/tokens.py --servers granian --seconds 3 --rounds 1
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from harness import (
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
from seed import (
    M2M_JWT_CLIENT,
    RESOURCE,
    SCOPES,
    SPA_CLIENT,
    client_secret,
    refresh_tokens,
    register_resource,
    session,
    users,
)

TOKEN = "/oauth2/token"
BASELINE = "/healthz/live"
CONNECTIONS = 16
GRANTS = 200
ANCHOR_SCRIPT = ROOT / "bench" / "oidc_provider_anchor.mjs"
ANCHOR_PACKAGE = ROOT / "tests" / "sso" / "upstream" / "node_modules" / "oidc-provider" / "package.json"
ANCHOR_TARGET = 0.4  # client_credentials >= 0.4 x oidc-provider
REFRESH_TARGET = 1000.0
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# Members of the private RSA JWK that oidc-provider takes.
_JWK_MEMBERS = ("kty", "kid", "n", "e", "d", "p", "q", "dp", "dq", "qi")


class OidcProviderAnchor:
    """node oidc-provider on a free loopback port; what `wrk` needs of a stack (base_url, cpu_seconds)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @staticmethod
    def version() -> str:
        if not ANCHOR_PACKAGE.exists():
            raise SystemExit("oidc-provider is missing: (cd tests/sso/upstream && npm ci)")
        return json.loads(ANCHOR_PACKAGE.read_text())["version"]

    @staticmethod
    def node_version() -> str:
        node = shutil.which("node")
        if node is None:
            raise SystemExit("node is missing (the oidc-provider anchor needs Node.js)")
        return subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()

    def __enter__(self) -> OidcProviderAnchor:
        self._tmp = tempfile.TemporaryDirectory(prefix="gatehouse-bench-anchor-")
        config_path = Path(self._tmp.name) / "config.json"
        config_path.write_text(json.dumps(self.config))
        self.port = free_port()
        self._proc = subprocess.Popen(
            ["node", str(ANCHOR_SCRIPT), str(self.port), str(config_path)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # oidc-provider's development notices
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self
            time.sleep(0.2)
        self.close()
        raise SystemExit("oidc-provider did not start")

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        assert self._proc is not None
        return sum(_cpu_of(pid) for pid in [self._proc.pid, *_children(self._proc.pid)])

    def request(self, body: str, headers: dict[str, str]) -> tuple[int, bytes]:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", "/token", body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def requests_for(stack: Stack) -> tuple[dict[str, tuple[dict[str, str], list[str]]], str]:
    """(headers, bodies) of each grant; and the m2m client's secret."""
    register_resource(stack)
    secret = client_secret(stack, M2M_JWT_CLIENT["client_id"])
    basic = base64.b64encode(f"{M2M_JWT_CLIENT['client_id']}:{secret}".encode()).decode()
    user = session(stack, users(stack, 1)[0])
    tokens = refresh_tokens(stack, user, SPA_CLIENT["client_id"], GRANTS)
    scope = " ".join(SCOPES)
    client_credentials = urlencode({"grant_type": "client_credentials", "resource": RESOURCE, "scope": scope})
    return {
        "client_credentials": ({**FORM, "Authorization": f"Basic {basic}"}, [client_credentials]),
        "refresh_token": (
            FORM,
            [
                urlencode({"grant_type": "refresh_token", "client_id": SPA_CLIENT["client_id"], "refresh_token": t})
                for t in tokens
            ],
        ),
    }, secret


def _check_answer(name: str, status: int, body: bytes, jwt: bool) -> None:
    answer = json.loads(body) if status == 200 else {}
    token = answer.get("access_token", "")
    if status != 200 or not token or (jwt and token.count(".") != 2):
        raise SystemExit(f"{name}: {status} {body[:300]!r}")


def verify(stack: Stack, grants: dict[str, tuple[dict[str, str], list[str]]]) -> None:
    for name, (headers, bodies) in grants.items():
        status, _, body = stack.request("POST", TOKEN, bodies[0], headers)
        _check_answer(name, status, body, jwt=name == "client_credentials")


def anchor_config(stack: Stack, secret: str) -> dict[str, Any]:
    key = stack.secrets["oauth"]["keys"][0]
    return {
        "client_id": M2M_JWT_CLIENT["client_id"],
        "client_secret": secret,
        "resource": RESOURCE,
        "scopes": SCOPES,
        "jwk": {k: key[k] for k in _JWK_MEMBERS if k in key},
        "access_token_ttl": 1800,
    }


def run(stack: Any, seconds: float, path: str, headers: dict[str, str] | None = None, bodies=()) -> Load:
    return wrk_2xx(stack, path, seconds, CONNECTIONS, headers, bodies)


def main() -> None:
    args, servers = round_arguments(__doc__, rounds=2)

    rows: list[Row] = []
    anchor_name = f"oidc-provider {OidcProviderAnchor.version()}"
    project = bench_project("gatehouse-bench-tokens", [SPA_CLIENT, M2M_JWT_CLIENT])
    with Stack(project, server=servers[0]) as stack:
        with step(f"seeding a resource, an m2m client secret and {GRANTS} offline grants"):
            grants, secret = requests_for(stack)
        cc_headers, cc_bodies = grants["client_credentials"]
        with OidcProviderAnchor(anchor_config(stack, secret)) as anchor:
            status, body = anchor.request(cc_bodies[0], cc_headers)
            _check_answer(anchor_name, status, body, jwt=True)
            print(
                f"  configuration: Gatehouse {CORES} workers per server ({', '.join(servers)}), PostgreSQL and "
                f"Redis on the same {CORES} cores; anchor {anchor_name} on node {OidcProviderAnchor.node_version()}, "
                "one process, in-memory adapter; both: JWT access tokens (RS256, the same key), one resource, "
                f"two scopes; wrk {CONNECTIONS} connections",
                flush=True,
            )
            for server in servers:
                if server != stack.server:
                    stack.start_server(server)
                verify(stack, grants)
                runs: dict[str, list[Load]] = {name: [] for name in ["baseline", *grants, "anchor"]}
                label = f"{server}: {CORES} workers, wrk {CONNECTIONS} connections, {args.rounds} x {args.seconds:g} s"
                with step(label):
                    run(stack, 2, BASELINE)
                    for headers, bodies in grants.values():
                        run(stack, 2, TOKEN, headers, bodies)
                    run(anchor, 2, "/token", cc_headers, cc_bodies)
                    for _ in range(args.rounds):
                        runs["baseline"].append(run(stack, args.seconds, BASELINE))
                        for name, (headers, bodies) in grants.items():
                            runs[name].append(run(stack, args.seconds, TOKEN, headers, bodies))
                            if name == "client_credentials":
                                runs["anchor"].append(run(anchor, args.seconds, "/token", cc_headers, cc_bodies))
                verify(stack, grants)
                base_runs = runs.pop("baseline")
                anchor_runs = runs.pop("anchor")
                baseline = rounds_row(
                    "tokens", f"{server}: GET {BASELINE} (baseline)", base_runs, "req/s", extra={"server": server}
                )
                anchor_row = rounds_row(
                    "tokens",
                    f"{server} round: {anchor_name} (node, 1 process): client_credentials",
                    anchor_runs,
                    "grants/s",
                    extra={"server": server, "rounds_rps": [r.rps for r in anchor_runs]},
                )
                rows += [baseline, anchor_row]
                cc_runs = runs["client_credentials"]
                cc = rounds_row(
                    "tokens",
                    f"{server}: client_credentials grants (JWT)",
                    cc_runs,
                    "grants/s",
                    limit_name=anchor_name,
                    limit=anchor_row.value,
                    ratio=median_ratio(cc_runs, anchor_runs),
                    target=f">= {ANCHOR_TARGET} x {anchor_name}",
                    extra={
                        "server": server,
                        "rounds_rps": [r.rps for r in cc_runs],
                        "ratio_to_baseline": median_ratio(cc_runs, base_runs),
                    },
                )
                cc.met = check(cc.ratio or 0.0, ">=", ANCHOR_TARGET)
                refresh_runs = runs["refresh_token"]
                refresh = rounds_row(
                    "tokens",
                    f"{server}: refresh_token grants",
                    refresh_runs,
                    "grants/s",
                    limit_name="baseline",
                    limit=baseline.value,
                    ratio=median_ratio(refresh_runs, base_runs),
                    target=f">= {REFRESH_TARGET:,.0f}/s",
                    extra={"server": server, "rounds_rps": [r.rps for r in refresh_runs]},
                )
                refresh.met = check(refresh.value, ">=", REFRESH_TARGET)
                rows += [cc, refresh]
    print_table(rows)
    write_json(args.json, rows, {**machine(), "connections": CONNECTIONS, "seconds": args.seconds})


if __name__ == "__main__":
    main()
