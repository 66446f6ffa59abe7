"""Admin API latency on a large user base (PostgreSQL).

Creates its own database, fills it with `--users` users by SQL (each with an email login ID, a
third also with a username, a name, one of ten roles, a password authenticator), serves the app
with gunicorn on 127.0.0.1, sends a bounded number of requests one after another over a kept-alive
connection, and prints p50/p99 for:
  - `users(first: 50)` with identities and roles (and totalCount),
  - a search (`searchKeyword`) returning up to 50 users with the same fields.
The database and the server are removed at the end (unless --keep).

    .venv/bin/python bench/admin.py                 # 100,000 users, 300 requests per scenario
    .venv/bin/python bench/admin.py --users 5000    # a quick try
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import yaml
from harness import ROOT, admin_token, free_port, stop_process

from app.project_files import complete_secrets

PROJECT_ID = "gatehouse-bench"
USERS_PAGE = """
query Page($first: Int!) {
  users(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id createdAt lastLoginAt isDisabled endUserAccountID formattedName
      identities { edges { node { id type claims } } }
      roles { edges { node { id key } } }
    } }
  }
}
"""
SEARCH = """
query Search($kw: String!) {
  users(first: 50, searchKeyword: $kw) {
    totalCount
    edges { node {
      id endUserAccountID
      identities { edges { node { id type claims } } }
      roles { edges { node { key } } }
    } }
  }
}
"""

SEED_SQL = """
CREATE TEMP TABLE seeds AS
  SELECT n, gen_random_uuid()::text AS id, now() - (n || ' seconds')::interval AS at
  FROM generate_series(1, %(users)s) AS n;
INSERT INTO users (id, created_at, updated_at, last_login_at, is_disabled, is_deactivated, is_anonymized,
                   standard_attributes, custom_attributes)
  SELECT id, at, at, CASE WHEN n %% 4 = 0 THEN at + interval '1 hour' END, false, false, false,
         jsonb_build_object('email', 'bench-' || n || '@example.com', 'name', 'Bench User ' || n),
         '{}'::jsonb
  FROM seeds;
INSERT INTO identities (id, user_id, type, created_at, updated_at, dedup_key, login_id_key, login_id_type,
                        login_id, original_login_id, claims)
  SELECT gen_random_uuid()::text, id, 'login_id', at, at, 'login_id:email:bench-' || n || '@example.com',
         'email', 'email', 'bench-' || n || '@example.com', 'bench-' || n || '@example.com',
         jsonb_build_object('email', 'bench-' || n || '@example.com')
  FROM seeds;
INSERT INTO identities (id, user_id, type, created_at, updated_at, dedup_key, login_id_key, login_id_type,
                        login_id, original_login_id, claims)
  SELECT gen_random_uuid()::text, id, 'login_id', at, at, 'login_id:username:bencher' || n,
         'username', 'username', 'bencher' || n, 'bencher' || n,
         jsonb_build_object('preferred_username', 'bencher' || n)
  FROM seeds WHERE n %% 3 = 0;
INSERT INTO authenticators (id, user_id, type, kind, is_default, created_at, updated_at, password_hash)
  SELECT gen_random_uuid()::text, id, 'password', 'primary', false, at, at, '$argon2id$v=19$m=19456,t=2,p=1$bench'
  FROM seeds;
INSERT INTO roles (id, key, name, created_at, updated_at)
  SELECT gen_random_uuid()::text, 'role_' || r, 'Role ' || r, now(), now() FROM generate_series(0, 9) AS r;
INSERT INTO user_roles (user_id, role_id)
  SELECT s.id, r.id FROM seeds s JOIN roles r ON r.key = 'role_' || (s.n %% 10);
"""


def write_project(directory: Path, database_url: str) -> dict:
    project = {
        "id": PROJECT_ID,
        "http": {"public_origin": "http://127.0.0.1"},
        "identity": {
            "login_id": {"keys": [{"key": "email", "type": "email"}, {"key": "username", "type": "username"}]}
        },
    }
    items, _ = complete_secrets([{"key": "db", "data": {"database_url": database_url}}], [])
    (directory / "authgear.yaml").write_text(yaml.safe_dump(project))
    (directory / "authgear.secrets.yaml").write_text(yaml.safe_dump({"secrets": items}))
    return {i["key"]: i["data"] for i in items}


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not become ready")


def measure(port: int, token: str, query: str, variables_for, count: int, warmup: int = 10) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    timings: list[float] = []
    for i in range(warmup + count):
        body = json.dumps({"query": query, "variables": variables_for(i)})
        started = time.perf_counter()
        conn.request("POST", "/_api/admin/graphql", body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        elapsed = time.perf_counter() - started
        if resp.status != 200 or b'"errors"' in payload:
            raise SystemExit(f"request failed: {resp.status} {payload[:300]!r}")
        if i >= warmup:
            timings.append(elapsed * 1000)
    conn.close()
    return timings


def report(name: str, timings: list[float]) -> None:
    ordered = sorted(timings)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    print(
        f"{name:<44} n={len(ordered):<5} p50={p50:7.1f} ms  p99={p99:7.1f} ms  mean={statistics.fmean(ordered):7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per scenario (bounded)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--pg", default=os.environ.get("GATEHOUSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if not 1 <= args.requests <= 10_000:
        raise SystemExit("--requests must be between 1 and 10000")

    name = f"gatehouse_bench_{uuid.uuid4().hex[:10]}"
    base = args.pg.rsplit("/", 1)[0]
    database_url = f"{base}/{name}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    proc: subprocess.Popen | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config_dir = Path(tmp)
            secrets = write_project(config_dir, database_url)
            env = {**os.environ, "GATEHOUSE_CONFIG_DIR": str(config_dir), "DATABASE_URL": database_url}
            env.pop("REDIS_URL", None)
            flask = [str(ROOT / ".venv" / "bin" / "flask"), "--app", "app"]
            subprocess.run([*flask, "gatehouse", "init"], cwd=ROOT, env=env, check=True, capture_output=True)

            started = time.perf_counter()
            with psycopg.connect(database_url, autocommit=False) as conn:
                for statement in SEED_SQL.replace("%%", "%").split(";\n"):
                    if statement.strip():
                        conn.execute(statement.replace("%(users)s", str(int(args.users))))
                conn.commit()
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            print(f"seeded {args.users:,} users in {time.perf_counter() - started:.1f} s")

            port = free_port()
            proc = subprocess.Popen(
                [
                    str(ROOT / ".venv" / "bin" / "gunicorn"),
                    "-w",
                    str(args.workers),
                    "-b",
                    f"127.0.0.1:{port}",
                    "--log-level",
                    "warning",
                    "app:create_app()",
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )
            wait_ready(port, proc)
            token = admin_token(secrets, PROJECT_ID)
            rng = random.Random(7)
            print(f"gunicorn {args.workers} sync workers on 127.0.0.1:{port}, requests sent one at a time")
            report(
                "users(first: 50) + identities + roles",
                measure(port, token, USERS_PAGE, lambda i: {"first": 50}, args.requests),
            )
            report(
                "users(searchKeyword) + identities + roles",
                measure(port, token, SEARCH, lambda i: {"kw": f"bench-{rng.randint(1, args.users)}@"}, args.requests),
            )
    finally:
        if proc is not None:
            stop_process(proc, timeout=15)
        if not args.keep:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
