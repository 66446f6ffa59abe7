"""`make bench`: every bench script with modest sizes, one after another; writes bench/results.json
and bench/results.md (both git-ignored) and prints the table.

A script that writes rows takes `--json PATH`; a script that does not (bench/admin.py) has its
printed `p50=`/`p99=` lines read instead. A script listed here that is missing is skipped; a script
under bench/ that is not listed is run with its own defaults, so that a new bench is not left out.
A script that fails is named at the end and `make bench` exits non-zero.

    .venv/bin/python bench/run_all.py              # everything, a few minutes
    .venv/bin/python bench/run_all.py resolver tokens
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Row, machine, table

HERE = Path(__file__).resolve().parent
PYTHON = str(HERE.parent / ".venv" / "bin" / "python")
# name -> arguments (modest sizes; each script's own defaults are larger or equal)
SUITES: dict[str, list[str]] = {
    "resolver": ["--rounds", "2", "--seconds", "4"],
    "tokens": ["--rounds", "2", "--seconds", "4"],
    "login": ["--seconds", "8", "--users", "100"],
    "memory": ["--requests", "10000"],
    "admin": ["--users", "20000", "--requests", "200"],
    "bulk": ["--users", "3000", "--export-users", "20000", "--per-request", "1000"],
    "cost_breakdown": ["--requests", "300"],
}
NOT_BENCHES = {"harness", "seed", "run_all"}
IMPORT_LINE = re.compile(
    r"^import: inserted (?P<n>[\d,]+), failed (?P<failed>[\d,]+); wall time (?P<s>[\d.]+) s; "
    r"(?P<rate>[\d,]+) users/s"
)
EXPORT_LINE = re.compile(
    r"^export (?P<fmt>\w+)\s*: (?P<n>[\d,]+) users in (?P<s>[\d.]+) s; (?P<rate>[\d,]+) users/s; "
    r".*peak (?P<peak>[\d,]+) MiB"
)
EXPORT_RATIO_LINE = re.compile(
    r"^export (?P<fmt>\w+)\s*: (?P<rate>[\d,]+) users/s = (?P<ratio>[\d.]+) x the limit around it \((?P<limit>[\d,]+);"
)
COPY_LINE = re.compile(
    r"^import: COPY of the same rows (?P<before>[\d,]+) users/s before the import, (?P<after>[\d,]+) after"
)
ADMIN_LINE = re.compile(r"^(?P<name>.+?)\s+n=(?P<n>\d+)\s+p50=\s*(?P<p50>[\d.]+) ms\s+p99=\s*(?P<p99>[\d.]+) ms")


def run(name: str, args: list[str]) -> tuple[list[dict], str | None]:
    script = HERE / f"{name}.py"
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out_path = Path(f.name)
    # A script that writes rows says so in its --help (its options may come from bench/harness.py).
    usage = subprocess.run([PYTHON, str(script), "--help"], cwd=HERE.parent, capture_output=True, text=True)
    takes_json = "--json" in usage.stdout
    cmd = [PYTHON, str(script), *args, *(["--json", str(out_path)] if takes_json else [])]
    print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=HERE.parent, capture_output=not takes_json, text=True, timeout=1800)
    elapsed = time.monotonic() - started
    try:
        if done.returncode != 0:
            if not takes_json:
                print(done.stdout[-2000:], done.stderr[-2000:])
            return [], f"exited with {done.returncode} after {elapsed:.0f} s"
        if takes_json:
            return json.loads(out_path.read_text() or "{}").get("rows", []), None
        print(done.stdout, flush=True)
        rows = []
        for line in done.stdout.splitlines():
            rows += _bulk_rows(name, line.strip())
            match = ADMIN_LINE.match(line.strip())
            if match:
                rows.append(
                    Row(
                        name,
                        match["name"],
                        float(match["p50"]),
                        "ms p50",
                        p50_ms=float(match["p50"]),
                        p99_ms=float(match["p99"]),
                        extra={"n": int(match["n"]), "args": args},
                    ).__dict__
                )
        return rows, None
    finally:
        out_path.unlink(missing_ok=True)


_copy_rate: list[float] = []  # the COPY anchor printed just before the import's result line


def _bulk_rows(name: str, line: str) -> list[dict]:
    """Rows from bench/bulk.py's printed lines (it writes no JSON)."""
    number = lambda text: float(text.replace(",", ""))  # noqa: E731
    if match := COPY_LINE.match(line):
        _copy_rate[:] = [(number(match["before"]) + number(match["after"])) / 2]
        return []
    if match := IMPORT_LINE.match(line):
        label = f"import, {number(match['n']):,.0f} users (bcrypt hashes), RQ workers"
        rate, limit = number(match["rate"]), (_copy_rate or [None])[0]
        row = Row(name, label, rate, "users/s", extra={"failed": number(match["failed"])})
        if limit:
            row.limit_name, row.limit, row.ratio = f"COPY of the rows {limit:,.0f}", limit, rate / limit
            row.target, row.met = ">= 0.2 x COPY", rate / limit >= 0.2
        return [row.__dict__]
    if match := EXPORT_LINE.match(line):
        label = f"export {match['fmt']}, {number(match['n']):,.0f} users"
        extra = {"worker_peak_rss_mib": number(match["peak"])}
        return [Row(name, label, number(match["rate"]), "users/s", extra=extra).__dict__]
    if match := EXPORT_RATIO_LINE.match(line):
        label = f"export {match['fmt']}, the largest size, against a server-side cursor over the plain join"
        rate, limit = number(match["rate"]), number(match["limit"])
        row = Row(name, label, rate, "users/s")
        row.limit_name, row.limit, row.ratio = f"cursor {limit:,.0f}", limit, rate / limit
        row.target, row.met = ">= 0.45 x cursor", rate / limit >= 0.45
        return [row.__dict__]
    return []


def main() -> None:
    wanted = sys.argv[1:] or list(SUITES)
    extra = sorted(p.stem for p in HERE.glob("*.py") if p.stem not in SUITES and p.stem not in NOT_BENCHES)
    rows: list[dict] = []
    problems: dict[str, str] = {}
    for name in [*wanted, *(extra if not sys.argv[1:] else [])]:
        if not (HERE / f"{name}.py").exists():
            print(f"\n=== {name}: no bench/{name}.py here, skipped", flush=True)
            continue
        got, problem = run(name, SUITES.get(name, []))
        rows += got
        if problem:
            problems[name] = problem
    result = {"meta": {**machine(), "command": "make bench"}, "rows": rows, "problems": problems}
    (HERE / "results.json").write_text(json.dumps(result, indent=2))
    text = table([Row(**r) for r in rows])
    notes = "".join(f"\n- {name}: {problem}" for name, problem in problems.items())
    (HERE / "results.md").write_text(f"{text}\n{notes}\n")
    print("\n" + text + notes, flush=True)
    print(f"\nwrote {HERE / 'results.json'} and {HERE / 'results.md'}")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
