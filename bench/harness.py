"""What the bench scripts share: a production-like stack on loopback, a load generator, results.

`Stack` creates a throwaway PostgreSQL database, writes an Authgear project directory (authgear.yaml
plus secrets from `app.project_files.complete_secrets`), migrates it with `flask gatehouse init`, and
serves the app with gunicorn (sync workers) or granian (WSGI), as many workers as cores, on a free
127.0.0.1 port, with Redis under a key prefix and RQ queue names of its own (so no other run's keys
are touched). An RQ worker is started on request. Everything is removed on exit.

Load comes from Debian's `wrk` (installed with apt-get when missing) with `--latency`; POST bodies
and per-request variation come from a generated Lua script. Every run is bounded in time, every
target is on 127.0.0.1.

Each script reports rows (`Row`) that `print_table` shows and `write_json` stores; a figure and the
limit it is compared with are measured in the same run, so their ratio holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis
import yaml
from joserfc import jwt
from joserfc.jwk import KeySet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.project_files import complete_secrets  # noqa: E402

BIN = ROOT / ".venv" / "bin"
PG_ADMIN_URL = os.environ.get("GATEHOUSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("GATEHOUSE_TEST_REDIS", "redis://127.0.0.1:6379/0")
PUBLIC_ORIGIN = "http://127.0.0.1"
CORES = os.cpu_count() or 1
SERVERS = ("gunicorn", "granian")
# Rate limits off: a bench measures throughput from one IP, which the limits exist to stop.
# The stack's authgear.features.yaml: every rate limit off (Authgear's `rate_limits.disabled`), since
# the benches send from one address, for a few users and clients, far more than any limit allows.
FEATURES: dict[str, Any] = {"rate_limits": {"disabled": True}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin_token(secrets: dict[str, Any], project_id: str, lifetime: int = 3600) -> str:
    """An Admin API JWT for the project, signed with its `admin-api.auth` key."""
    key = KeySet.import_key_set({"keys": secrets["admin-api.auth"]["keys"]}).keys[0]
    now = int(time.time())
    claims = {"aud": [project_id], "iat": now, "exp": now + lifetime}
    return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key.kid}, claims, key)


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def bench_project(project_id: str, clients: Sequence[dict[str, Any]] = (), **extra: Any) -> dict[str, Any]:
    """An authgear.yaml for benches: email + username login IDs, password (rate limits: FEATURES)."""
    project: dict[str, Any] = {
        "id": project_id,
        "http": {"public_origin": PUBLIC_ORIGIN},
        "identity": {
            "login_id": {"keys": [{"key": "email", "type": "email"}, {"key": "username", "type": "username"}]}
        },
        "oauth": {"clients": list(clients)},
        "authentication": {
            "identities": ["login_id"],
            "primary_authenticators": ["password"],
            "secondary_authenticators": [],
        },
    }
    return deep_merge(project, extra)


class Stack:
    """PostgreSQL database + project dir + gunicorn/granian (+ RQ worker) on loopback; a context manager."""

    def __init__(
        self,
        project: dict[str, Any],
        *,
        server: str = "gunicorn",
        workers: int = CORES,
        use_redis: bool = True,
        rq_worker: bool = False,
        keep: bool = False,
    ) -> None:
        if server not in (*SERVERS, "granian-rsgi"):
            raise SystemExit(f"unknown server {server!r}; one of {SERVERS} or granian-rsgi")
        self.project = project
        self.server = server
        self.workers = workers
        self.use_redis = use_redis
        self.want_rq_worker = rq_worker
        self.keep = keep
        run_id = uuid.uuid4().hex[:10]
        self.db_name = f"gatehouse_bench_{run_id}"
        self.redis_prefix = f"gatehouse-bench:{run_id}:"
        self.queue_prefix = f"gatehouse-bench-{run_id}-"
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        self.database_url = f"{base}/{self.db_name}"
        self.port = 0
        self.secrets: dict[str, Any] = {}
        self.env: dict[str, str] = {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: subprocess.Popen[bytes] | None = None
        self._rq: subprocess.Popen[bytes] | None = None
        self._db_created = False
        self._app: Any = None

    # -- life cycle -----------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create(self) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self._db_created = True
        self._tmp = tempfile.TemporaryDirectory(prefix="gatehouse-bench-")
        config_dir = Path(self._tmp.name)
        confidential = [
            c["client_id"]
            for c in self.project.get("oauth", {}).get("clients", [])
            if c.get("x_application_type") in ("traditional_webapp", "confidential", "third_party_app", "m2m")
        ]
        items, _ = complete_secrets([{"key": "db", "data": {"database_url": self.database_url}}], confidential)
        (config_dir / "authgear.yaml").write_text(yaml.safe_dump(self.project))
        (config_dir / "authgear.secrets.yaml").write_text(yaml.safe_dump({"secrets": items}))
        (config_dir / "authgear.features.yaml").write_text(yaml.safe_dump(FEATURES))
        self.secrets = {i["key"]: i["data"] for i in items}
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FLASK_APP")}
        env.update(GATEHOUSE_CONFIG_DIR=str(config_dir), DATABASE_URL=self.database_url, PYTHONUNBUFFERED="1")
        if self.use_redis:
            env.update(
                REDIS_URL=REDIS_URL,
                GATEHOUSE_REDIS_PREFIX=self.redis_prefix,
                GATEHOUSE_QUEUE_PREFIX=self.queue_prefix,
            )
        self.env = env
        subprocess.run(
            [str(BIN / "flask"), "--app", "app", "gatehouse", "init"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        self.start_server(self.server)
        if self.want_rq_worker:
            self._rq = subprocess.Popen([str(BIN / "python"), "worker.py"], cwd=ROOT, env=env, start_new_session=True)

    def start_server(self, server: str) -> None:
        """(Re)starts the web server, e.g. to compare gunicorn and granian on the same data."""
        self.stop_server()
        self.server = server
        self.port = free_port()
        if server == "gunicorn":
            cmd = [
                str(BIN / "gunicorn"), "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}",
                "--log-level", "warning", "--backlog", "2048", "app:create_app()",
            ]  # fmt: skip
        elif server == "granian":
            cmd = [
                str(BIN / "granian"), "--interface", "wsgi", "--factory", "--workers", str(self.workers),
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning", "--no-ws",
                "app:create_app",
            ]  # fmt: skip
        else:
            # granian-rsgi: what `gatehouse serve` runs, the flow websocket in asyncio and the Flask
            # app on threads (app/realtime/server.py); not in the default set, compare with --servers
            # granian,granian-rsgi
            cmd = [
                str(BIN / "granian"), "--interface", "rsgi", "--factory", "--workers", str(self.workers),
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
                "app.realtime.server:create_server_app",
            ]  # fmt: skip
        self._server = subprocess.Popen(cmd, cwd=ROOT, env=self.env, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._server is not None
            if self._server.poll() is not None:
                raise SystemExit(f"{self.server} exited with {self._server.returncode}")
            try:
                status, _, _ = self.request("GET", "/healthz")
                if status == 200 and len(self.worker_pids()) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"{self.server} did not become ready")

    def stop_server(self) -> None:
        if self._server is not None:
            stop_process(self._server)
            self._server = None

    def close(self) -> None:
        if self._app is not None:
            with contextlib.suppress(Exception), self._app.app_context():
                from app.extensions import db

                db.engine.dispose()
        if self._rq is not None:
            stop_process(self._rq)
        self.stop_server()
        if self.use_redis:
            with contextlib.suppress(redis.RedisError):
                client = redis.Redis.from_url(REDIS_URL)
                for pattern in (self.redis_prefix + "*", f"rq:*{self.queue_prefix}*"):
                    keys = list(client.scan_iter(match=pattern, count=1000))
                    for i in range(0, len(keys), 500):
                        client.delete(*keys[i : i + 500])
        if self._db_created and not self.keep:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> Any:
        """An in-process app on the same database and Redis prefix, for seeding through the services."""
        if self._app is None:
            from app import create_app
            from app.config import load_config

            self._app = create_app(load_config(self.env))
        return self._app

    def request(
        self, method: str, path: str, body: bytes | str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a fresh connection (for checks before and after a load run)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            headers: dict[str, str] = {}
            for key, value in resp.getheaders():
                # Repeated headers (several Set-Cookie) are joined, as HTTP allows, not overwritten.
                key = key.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            return resp.status, headers, resp.read()
        finally:
            conn.close()

    def worker_pids(self) -> list[int]:
        """The web server's worker processes (children of its master), read from /proc."""
        if self._server is None:
            return []
        return _children(self._server.pid)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the web workers and the PostgreSQL backends
        serving this stack's database: the cost of requests, whatever else runs on the machine."""
        pids = list(self.worker_pids())
        with contextlib.suppress(psycopg.Error), psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.db_name,)).fetchall()
            pids += [r[0] for r in rows]
        return sum(_cpu_of(pid) for pid in pids)

    def peak_rss_mb(self) -> dict[int, float]:
        """VmHWM (peak resident set size) of each worker, in MiB."""
        out = {}
        for pid in self.worker_pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        out[pid] = int(line.split()[1]) / 1024
        return out


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (proc(5) fields 14 and 15)


def _children(pid: int) -> list[int]:
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            pids.extend(int(p) for p in text)
    return sorted(set(pids))


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM to the process group (started with `start_new_session`), SIGKILL after `timeout` s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# -- load generator ---------------------------------------------------------------------------------
def ensure_wrk() -> str:
    """The path of `wrk`, installed from Debian's packages when missing (root only)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: apt-get install wrk")
    print("installing wrk (apt-get)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed")
    return found


@dataclass
class Load:
    rps: float
    cpu_ms: float  # CPU of the web workers and their PostgreSQL backends per request
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    seconds: float


def _lua_str(value: str) -> str:
    """A Lua long-bracket string (no escapes needed); inside `[...]` it needs spaces around it,
    since `t[[` would open a long string."""
    level = "=" * 4
    assert f"]{level}]" not in value
    return f"[{level}[{value}]{level}]"


def lua_script(
    method: str = "GET",
    path: str | None = None,
    headers: dict[str, str] | None = None,
    bodies: Sequence[str] = (),
    header_sets: Sequence[dict[str, str]] = (),
) -> str:
    """A wrk script: a fixed request, or one that cycles through `bodies` / `header_sets` (each wrk
    thread starting at a different place, so two threads rarely send the same body at once)."""
    lines = [f"wrk.method = {_lua_str(method)}"]
    if path:
        lines.append(f"wrk.path = {_lua_str(path)}")
    for name, value in (headers or {}).items():
        lines.append(f"wrk.headers[ {_lua_str(name)} ] = {_lua_str(value)}")
    if len(bodies) == 1 and not header_sets:
        lines.append(f"wrk.body = {_lua_str(bodies[0])}")
    elif bodies or header_sets:
        lines += [
            "local threads = 0",
            "function setup(thread) thread:set('offset', threads * 7919); threads = threads + 1 end",
            f"local bodies = {{{', '.join(_lua_str(b) for b in bodies)}}}",
            "local header_sets = {"
            + ", ".join(
                "{" + ", ".join(f"[ {_lua_str(k)} ] = {_lua_str(v)}" for k, v in h.items()) + "}" for h in header_sets
            )
            + "}",
            "local i = 0",
            "function init(args) i = offset or 0 end",
            "function request()",
            "  i = i + 1",
            "  local body = nil",
            "  if #bodies > 0 then body = bodies[(i % #bodies) + 1] end",
            "  local hs = wrk.headers",
            "  if #header_sets > 0 then",
            "    hs = {}",
            "    for k, v in pairs(wrk.headers) do hs[k] = v end",
            "    for k, v in pairs(header_sets[(i % #header_sets) + 1]) do hs[k] = v end",
            "  end",
            "  return wrk.format(nil, nil, hs, body)",
            "end",
        ]
    return "\n".join(lines) + "\n"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(
    stack: Stack,
    path: str,
    *,
    seconds: float = 8.0,
    connections: int = 16,
    threads: int | None = None,
    script: str | None = None,
    headers: dict[str, str] | None = None,
) -> Load:
    """`wrk --latency` against the stack for a bounded time; the numbers of its report."""
    if not 1 <= seconds <= 120 or not 1 <= connections <= 256:
        raise SystemExit("wrk runs are bounded: 1-120 s, 1-256 connections")
    binary = ensure_wrk()
    threads = min(threads or CORES, connections)
    cmd = [binary, "--latency", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s"]
    if script is None and headers:
        script = lua_script(headers=headers)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script or "")
        script_path = f.name
    try:
        if script:
            cmd += ["-s", script_path]
        cmd.append(stack.base_url + path)
        cpu_before = stack.cpu_seconds()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        cpu = stack.cpu_seconds() - cpu_before
    finally:
        os.unlink(script_path)
    out = done.stdout
    if done.returncode != 0 or "Requests/sec" not in out or done.stderr.strip():
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr.strip()} {out.strip()}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests_line = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    assert requests_line is not None
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    requests = int(requests_line.group(1))
    return Load(
        rps=rps,
        cpu_ms=1000 * cpu / requests if requests else float("nan"),
        p50_ms=_ms(p50.group(1)) if p50 else float("nan"),
        p99_ms=_ms(p99.group(1)) if p99 else float("nan"),
        requests=requests,
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        # Sync gunicorn workers close every connection: wrk counts a reconnect race as a read error.
        socket_errors=sum(int(x) for x in sock.groups()) if sock else 0,
        seconds=seconds,
    )


def wrk_2xx(
    stack: Stack,
    path: str,
    seconds: float,
    connections: int,
    headers: dict[str, str] | None = None,
    bodies: Sequence[str] = (),
) -> Load:
    """A wrk run of a GET, or of POSTs cycling through `bodies`, whose every answer must be 2xx."""
    script = lua_script("POST" if bodies else "GET", headers=headers, bodies=bodies)
    load = wrk(stack, path, seconds=seconds, connections=connections, script=script)
    if load.non_2xx:
        raise SystemExit(f"{path}: {load.non_2xx} responses were not 2xx")
    return load


def round_arguments(doc: str | None, rounds: int) -> tuple[argparse.Namespace, list[str]]:
    """The checked command line of a bench that runs interleaved wrk rounds on each server
    (`--servers`, `--seconds`, `--rounds`, `--json`), and the servers it names."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated: gunicorn,granian")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each wrk run (bounded: 1-60)")
    parser.add_argument("--rounds", type=int, default=rounds, help="interleaved rounds (bounded: 1-10)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 60 or not 1 <= args.rounds <= 10:
        raise SystemExit("--seconds must be between 1 and 60, --rounds between 1 and 10")
    return args, [s for s in args.servers.split(",") if s]


def argon2_hashes_per_second(seconds: float = 5.0, processes: int = CORES) -> tuple[float, float]:
    """Raw argon2id hashes per second with the configured parameters, one process per core, and
    the CPU milliseconds one hash takes (the figure that holds when other work shares the cores)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes) as pool:
        results = pool.map(_hash_for, [seconds] * processes)
    count = sum(n for n, _ in results)
    return count / seconds, 1000 * sum(cpu for _, cpu in results) / max(count, 1)


def _hash_for(seconds: float) -> tuple[int, float]:
    from app.authenticators.password import ARGON2

    ARGON2.hash("warm-up")
    count = 0
    cpu = time.process_time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        ARGON2.hash("bench-password-1")
        count += 1
    return count, time.process_time() - cpu


# -- results ----------------------------------------------------------------------------------------
@dataclass
class Row:
    bench: str
    name: str
    value: float
    unit: str
    p50_ms: float | None = None
    p99_ms: float | None = None
    cpu_ms: float | None = None
    limit_name: str | None = None
    limit: float | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def rounds_row(bench: str, name: str, loads: Sequence[Load], unit: str, **fields: Any) -> Row:
    """A row of the runs of several rounds: the throughput over all of them, the median p50 and
    CPU per request, the worst p99."""
    return Row(
        bench,
        name,
        sum(r.requests for r in loads) / sum(r.seconds for r in loads),
        unit,
        p50_ms=statistics.median(r.p50_ms for r in loads),
        p99_ms=max(r.p99_ms for r in loads),
        cpu_ms=statistics.median(r.cpu_ms for r in loads),
        **fields,
    )


def median_ratio(loads: Sequence[Load], baselines: Sequence[Load]) -> float:
    """The median of each round's throughput over the same round's baseline."""
    return statistics.median(r.rps / b.rps for r, b in zip(loads, baselines, strict=True))


def check(value: float, op: str, bound: float) -> bool:
    return value >= bound if op == ">=" else value < bound


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if abs(value) >= 1 or value == 0 else f"{value:.2f}"


def table(rows: Sequence[Row]) -> str:
    """A Markdown table of the rows (also readable as plain text)."""
    header = [
        "bench",
        "figure",
        "value",
        "p50 ms",
        "p99 ms",
        "CPU ms/req",
        "limit (same run)",
        "ratio",
        "target",
        "met",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        limit = f"{r.limit_name} {fmt(r.limit)}" if r.limit_name else "-"
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        cells = [r.bench, r.name, f"{fmt(r.value)} {r.unit}", fmt(r.p50_ms), fmt(r.p99_ms), fmt(r.cpu_ms, 2), limit,
                 ratio, r.target or "-", met]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_table(rows: Sequence[Row]) -> None:
    print(table(rows), flush=True)


def write_json(path: str | None, rows: Sequence[Row], meta: dict[str, Any] | None = None) -> None:
    if path:
        Path(path).write_text(json.dumps({"meta": meta or {}, "rows": [asdict(r) for r in rows]}, indent=2))


def machine() -> dict[str, Any]:
    return {"cores": CORES, "python": sys.version.split()[0], "at": time.strftime("%Y-%m-%d %H:%M:%S %z")}


@contextlib.contextmanager
def step(text: str) -> Iterator[None]:
    started = time.perf_counter()
    print(f"- {text} ...", flush=True)
    yield
    print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
