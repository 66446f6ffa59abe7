"""User Import and Export throughput on PostgreSQL with real RQ workers.

Creates its own database and project directory, starts `python worker.py` processes on a queue
prefix of its own, then:
  1. imports `--users` users with bcrypt password hashes through `POST /_api/admin/users/import`
     (requests of `--per-request` records, all submitted at once) and prints users per second
     and the wall time from the first request to the last completed job, next to its limit: a
     COPY of the same rows (users, identities, authenticators, audit entries) into the same
     database, timed just before and just after the import;
  2. tops the database up by SQL to `--small-export` users (email and username login IDs, names,
     roles, verified emails) and exports them to NDJSON, then to `--export-users` users and exports
     them to NDJSON and then to CSV, each with one fresh worker, printing users per second, the
     file size and the worker's peak RSS (VmHWM) next to its RSS before the export (so the peak
     at both sizes shows whether memory stays flat), and each export's ratio to its limit: one
     server-side cursor over the plain join of users, identities and authenticators (no grouping in
     SQL) writing JSON lines (`cursor_anchor`), timed before, between and after the exports.
The database, the workers and the files are removed at the end (unless --keep).

    .venv/bin/python bench/bulk.py                                  # 100,000 imported, 1,000,000 exported
    .venv/bin/python bench/bulk.py --users 2000 --export-users 2000 # a quick try
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import bcrypt
import psycopg
import redis
import yaml
from harness import ROOT, admin_token, stop_process
from psycopg.types.json import Jsonb
from rq import Queue, Worker

from app.project_files import complete_secrets

PROJECT_ID = "gatehouse-bench"
IMPORT = "/_api/admin/users/import"
EXPORT = "/_api/admin/users/export"

TOP_UP_SQL = """
CREATE TEMP TABLE seeds AS
  SELECT n, gen_random_uuid()::text AS id, now() - (n || ' seconds')::interval AS at
  FROM generate_series(1, {count}) AS n;
INSERT INTO users (id, created_at, updated_at, is_disabled, is_deactivated, is_anonymized,
                   standard_attributes, custom_attributes)
  SELECT id, at, at, n % 50 = 0, false, false,
         jsonb_build_object('email', 'seed-{tag}-' || n || '@example.com', 'name', 'Seed User ' || n,
                            'given_name', 'Seed', 'family_name', 'User ' || n,
                            'preferred_username', 'seed_{tag}_' || n),
         '{{}}'::jsonb
  FROM seeds;
INSERT INTO identities (id, user_id, type, created_at, updated_at, dedup_key, login_id_key, login_id_type,
                        login_id, original_login_id, claims)
  SELECT gen_random_uuid()::text, id, 'login_id', at, at, 'login_id:email:seed-{tag}-' || n || '@example.com',
         'email', 'email', 'seed-{tag}-' || n || '@example.com', 'seed-{tag}-' || n || '@example.com',
         jsonb_build_object('email', 'seed-{tag}-' || n || '@example.com')
  FROM seeds;
INSERT INTO identities (id, user_id, type, created_at, updated_at, dedup_key, login_id_key, login_id_type,
                        login_id, original_login_id, claims)
  SELECT gen_random_uuid()::text, id, 'login_id', at, at, 'login_id:username:seed_{tag}_' || n,
         'username', 'username', 'seed_{tag}_' || n, 'seed_{tag}_' || n,
         jsonb_build_object('preferred_username', 'seed_{tag}_' || n)
  FROM seeds;
INSERT INTO verified_claims (id, user_id, name, value, created_at)
  SELECT gen_random_uuid()::text, id, 'email', 'seed-{tag}-' || n || '@example.com', at FROM seeds WHERE n % 2 = 0;
INSERT INTO roles (id, key, name, created_at, updated_at)
  SELECT gen_random_uuid()::text, 'seed_role_' || r, 'Role ' || r, now(), now() FROM generate_series(0, 4) AS r
  ON CONFLICT DO NOTHING;
INSERT INTO user_roles (user_id, role_id)
  SELECT s.id, r.id FROM seeds s JOIN roles r ON r.key = 'seed_role_' || (s.n % 5);
"""

# The export's limit: the rows an export reads (users, their identities, their secondary
# authenticators) as one plain join in the export's order, no grouping or aggregation in SQL: one row
# per identity and authenticator of a user, a user's rows next to each other.
ANCHOR_SQL = """
SELECT u.id, u.created_at, u.last_login_at, u.is_disabled, u.delete_at, u.is_anonymized, u.anonymize_at,
       u.account_valid_from, u.account_valid_until, u.standard_attributes, u.custom_attributes,
       i.type, i.login_id_key, i.login_id_type, i.login_id, i.original_login_id, i.provider_alias,
       i.provider_type, i.provider_subject_id, i.claims, i.provider_profile,
       a.type, a.oob_target, a.totp_secret
  FROM users u
  LEFT JOIN identities i ON i.user_id = u.id
  LEFT JOIN authenticators a ON a.user_id = u.id AND a.kind = 'secondary'
 ORDER BY u.created_at, u.id
"""


def write_project(directory: Path) -> dict:
    project = {
        "id": PROJECT_ID,
        "http": {"public_origin": "http://127.0.0.1:3000"},
        "identity": {
            "login_id": {"keys": [{"key": "email", "type": "email"}, {"key": "username", "type": "username"}]}
        },
    }
    items, _ = complete_secrets([], [])
    (directory / "authgear.yaml").write_text(yaml.safe_dump(project))
    (directory / "authgear.secrets.yaml").write_text(yaml.safe_dump({"secrets": items}))
    return {i["key"]: i["data"] for i in items}


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def wait_registered(env: dict[str, str], count: int, timeout: float = 120) -> None:
    """Until `count` workers listen on the bench's queues (so start-up is not timed)."""
    connection = redis.Redis.from_url(env["REDIS_URL"])
    queue = Queue(env["GATEHOUSE_QUEUE_PREFIX"] + "user_export", connection=connection)
    deadline = time.monotonic() + timeout
    while Worker.count(queue=queue) < count:
        if time.monotonic() > deadline:
            raise SystemExit("the workers did not start; see the log")
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    stop_process(proc, timeout=30)


def memory_kib(pid: int, field: str) -> int:
    """VmRSS or VmHWM (peak RSS) of a process, in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def wait_done(client, path: str, headers: dict[str, str], poll: float = 0.5) -> dict:
    while True:
        resp = client.get(path, headers=headers)
        if resp.status_code != 200:
            raise SystemExit(f"GET {path}: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
        result = resp.get_json()["result"]
        if result["status"] == "completed":
            return result
        time.sleep(poll)


def copy_anchor(database_url: str, users: int, hashes: list[str], tag: str) -> float:
    """Seconds for one COPY per table of the rows an import of `users` such records writes (users,
    identities, password authenticators, audit entries) and the COMMIT; the rows are built
    beforehand and removed afterwards, neither timed. The import's limit in the same run."""
    now = datetime.now(UTC)
    ids = [str(uuid.uuid4()) for _ in range(users)]
    emails = [f"copy-{tag}-{n}@example.com" for n in range(users)]
    tables = {
        "users (id, created_at, updated_at, is_disabled, is_deactivated, is_anonymized, standard_attributes,"
        " custom_attributes)": [
            (i, now, now, False, False, False, Jsonb({"email": e}), Jsonb({})) for i, e in zip(ids, emails, strict=True)
        ],
        "identities (id, user_id, type, created_at, updated_at, dedup_key, login_id_key, login_id_type, login_id,"
        " original_login_id, claims)": [
            (
                str(uuid.uuid4()),
                i,
                "login_id",
                now,
                now,
                f"login_id:email:{e}",
                "email",
                "email",
                e,
                e,
                Jsonb({"email": e}),
            )
            for i, e in zip(ids, emails, strict=True)
        ],
        "authenticators (id, user_id, type, kind, is_default, created_at, updated_at, password_hash)": [
            (str(uuid.uuid4()), i, "password", "primary", False, now, now, hashes[n % len(hashes)])
            for n, i in enumerate(ids)
        ],
        "audit_logs (created_at, activity_type, user_id, data)": [
            (now, "user.created", i, Jsonb({"login_ids": ["email"]})) for i in ids
        ],
    }
    with psycopg.connect(database_url) as conn:
        started = time.perf_counter()
        with conn.cursor() as cur:
            for table, rows in tables.items():
                with cur.copy(f"COPY {table} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DELETE FROM audit_logs WHERE user_id = ANY(%s)", [ids])
        conn.execute("DELETE FROM users WHERE id = ANY(%s)", [ids])  # cascades
        conn.commit()
    return seconds


def bench_import(client, headers: dict[str, str], users: int, per_request: int, database_url: str) -> None:
    # bcrypt at cost 10, as real exports have; a few distinct hashes (the import stores, it does not hash).
    hashes = [bcrypt.hashpw(f"pw-{i}".encode(), bcrypt.gensalt(10)).decode() for i in range(8)]
    before = users / copy_anchor(database_url, users, hashes, "before")
    started = time.perf_counter()
    job_ids = []
    for start in range(0, users, per_request):
        records = [
            {"email": f"bench-{n}@example.com", "password": {"type": "bcrypt", "password_hash": hashes[n % 8]}}
            for n in range(start, min(start + per_request, users))
        ]
        resp = client.post(IMPORT, data=json.dumps({"identifier": "email", "records": records}), headers=headers)
        if resp.status_code != 200:
            raise SystemExit(f"import request failed: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
        job_ids.append(resp.get_json()["result"]["id"])
    submitted = time.perf_counter() - started
    inserted = failed = 0
    for job_id in job_ids:
        summary = wait_done(client, f"{IMPORT}/{job_id}", headers)["summary"]
        inserted += summary["inserted"]
        failed += summary["failed"]
    wall = time.perf_counter() - started
    after = users / copy_anchor(database_url, users, hashes, "after")
    print(f"import: {users:,} users with bcrypt hashes in {len(job_ids)} requests (submitted in {submitted:.1f} s)")
    print(
        f"import: COPY of the same rows {before:,.0f} users/s before the import, {after:,.0f} after; "
        f"ratio {users / wall / ((before + after) / 2):.3f} of their mean (target >= 0.2)"
    )
    print(f"import: inserted {inserted:,}, failed {failed:,}; wall time {wall:.1f} s; {users / wall:,.0f} users/s")


def cursor_anchor(database_url: str, out_dir: Path) -> tuple[int, float]:
    """(users, seconds) of the export's limit: one server-side cursor over the plain join of users,
    identities and secondary authenticators (`ANCHOR_SQL`, no grouping in SQL) writing each row as a
    JSON line to a file, in one process, nothing else; users counted as their rows go by."""
    path = out_dir / "anchor.ndjson"
    started = time.perf_counter()
    users = 0
    last = None
    with psycopg.connect(database_url) as conn, conn.cursor(name="anchor") as cursor, open(path, "w") as out:
        cursor.itersize = 2000
        cursor.execute(ANCHOR_SQL)
        for row in cursor:
            out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=str) + "\n")
            if row[0] != last:
                users += 1
                last = row[0]
    seconds = time.perf_counter() - started
    path.unlink()
    return users, seconds


def bench_export(client, headers: dict[str, str], env: dict[str, str], log: Path, fmt: str, users: int) -> float:
    """Users per second of one export by a fresh worker; prints it with the file size and the RSS."""
    worker = start_worker(env, log)
    try:
        wait_registered(env, 1)
        before = memory_kib(worker.pid, "VmRSS")
        started = time.perf_counter()
        resp = client.post(EXPORT, data=json.dumps({"format": fmt}), headers=headers)
        if resp.status_code != 200:
            raise SystemExit(f"export request failed: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
        result = wait_done(client, f"{EXPORT}/{resp.get_json()['result']['id']}", headers)
        wall = time.perf_counter() - started
        peak = memory_kib(worker.pid, "VmHWM")
    finally:
        stop(worker)
    if result.get("error"):
        raise SystemExit(f"export failed: {result['error']}")
    download = client.get(result["download_url"])
    size = len(download.get_data())
    download.close()
    print(
        f"export {fmt:<6}: {users:,} users in {wall:.1f} s; {users / wall:,.0f} users/s; file {size / 1e6:,.1f} MB; "
        f"worker RSS {before / 1024:,.0f} MiB before, peak {peak / 1024:,.0f} MiB (target < 150)"
    )
    return users / wall


def top_up(database_url: str, size: int) -> int:
    """Adds seed users by SQL until the database holds `size` users; the count."""
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn:
        missing = max(0, size - conn.execute("SELECT count(*) FROM users").fetchone()[0])
        for statement in TOP_UP_SQL.format(count=int(missing), tag=uuid.uuid4().hex[:6]).split(";\n"):
            if statement.strip() and missing:
                conn.execute(statement)
        conn.commit()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        total = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    seconds = time.perf_counter() - started
    print(f"export: {total:,} users in the database ({missing:,} added by SQL in {seconds:.1f} s)")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000, help="users to import")
    parser.add_argument("--export-users", type=int, default=1_000_000, help="users in the database to export")
    parser.add_argument(
        "--small-export", type=int, default=10_000, help="users of the first export (worker RSS at a small size)"
    )
    parser.add_argument("--per-request", type=int, default=3000, help="records per import request (<= 500 KB)")
    parser.add_argument("--workers", type=int, default=2, help="RQ workers for the import")
    parser.add_argument(
        "--pg", default=os.environ.get("GATEHOUSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--redis", default=os.environ.get("GATEHOUSE_TEST_REDIS", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if args.users < 0 or args.export_users < 0 or not 1 <= args.per_request <= 3500 or args.workers < 1:
        raise SystemExit("sizes must be positive and --per-request at most 3500 (the 500 KB request limit)")

    name = f"gatehouse_bench_{uuid.uuid4().hex[:10]}"
    database_url = f"{args.pg.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    workers: list[subprocess.Popen] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config_dir = Path(tmp)
            secrets = write_project(config_dir)
            env = {
                **os.environ,
                "GATEHOUSE_CONFIG_DIR": str(config_dir),
                "DATABASE_URL": database_url,
                "REDIS_URL": args.redis,
                "GATEHOUSE_QUEUE_PREFIX": f"gatehouse-bench-{uuid.uuid4().hex[:8]}:",
            }
            flask = [str(ROOT / ".venv" / "bin" / "flask"), "--app", "app"]
            subprocess.run([*flask, "gatehouse", "init"], cwd=ROOT, env=env, check=True, capture_output=True)
            os.environ.update(
                {k: env[k] for k in ("GATEHOUSE_CONFIG_DIR", "DATABASE_URL", "REDIS_URL", "GATEHOUSE_QUEUE_PREFIX")}
            )
            from app import create_app

            app = create_app()
            client = app.test_client()
            token = admin_token(secrets, PROJECT_ID, lifetime=24 * 3600)  # outlives a long export
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            log = Path(tempfile.gettempdir()) / f"{name}-workers.log"  # kept for a look afterwards
            print(f"database {name}; logs in {log}")

            if args.users:
                workers = [start_worker(env, log) for _ in range(args.workers)]
                wait_registered(env, args.workers)
                print(f"import: {args.workers} RQ worker(s)")
                bench_import(client, headers, args.users, args.per_request, database_url)
                for worker in workers:
                    stop(worker)

            if args.export_users:
                # The worker's memory at --small-export users, then at --export-users: it stays flat.
                sizes = sorted({min(args.small_export, args.export_users), args.export_users})
                for size in sizes:
                    total = top_up(database_url, size)
                    if size != sizes[-1]:
                        bench_export(client, headers, env, log, "ndjson", total)
                        continue
                    anchors = [cursor_anchor(database_url, Path(tmp))]
                    rates = []
                    for fmt in ("ndjson", "csv"):
                        rates.append((fmt, bench_export(client, headers, env, log, fmt, total)))
                        anchors.append(cursor_anchor(database_url, Path(tmp)))
                    limits = [n / t for n, t in anchors]
                    print(
                        "export: limit, one server-side cursor over the plain join writing JSON lines: "
                        + ", ".join(f"{limit:,.0f}" for limit in limits)
                        + " users/s (before, between and after the exports)"
                    )
                    for i, (fmt, rate) in enumerate(rates):
                        limit = (limits[i] + limits[i + 1]) / 2
                        print(
                            f"export {fmt:<6}: {rate:,.0f} users/s = {rate / limit:.2f} x the limit around it "
                            f"({limit:,.0f}; target >= 0.45 and >= 50,000 users/s)"
                        )
    finally:
        for worker in workers:
            stop(worker)
        if not args.keep:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
