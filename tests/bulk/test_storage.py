"""Export file storage: atomic writes, safe names, signed URLs, removal after 24 hours (the clock
is injected)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from app.jobs.storage import LocalDiskStorage, URLSigner, valid_key

pytestmark = pytest.mark.embedded

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def storage(tmp_path):
    return LocalDiskStorage(tmp_path / "exports", URLSigner(b"secret"), "https://id.example.com")


def test_writer_publishes_only_whole_files(storage, tmp_path):
    with storage.writer("app-userexport_A-20260102030405Z.ndjson") as out:
        out.write(b"line\n")
        assert not storage.exists("app-userexport_A-20260102030405Z.ndjson")  # not visible while written
    assert storage.open("app-userexport_A-20260102030405Z.ndjson").read() == b"line\n"
    with pytest.raises(RuntimeError), storage.writer("broken.csv") as out:
        out.write(b"half")
        raise RuntimeError("worker crashed")
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == ["app-userexport_A-20260102030405Z.ndjson"]


@pytest.mark.parametrize("key", ["../secrets.yaml", "a/b.csv", "", ".hidden", "x" * 300, "a..b", "f.csv.part", "é.csv"])
def test_unsafe_names_are_refused(storage, key):
    assert not valid_key(key)
    assert not storage.exists(key)
    with pytest.raises(ValueError), storage.writer(key):
        pass


def test_signed_urls(storage):
    url = storage.download_url("app-userexport_A-20260102030405Z.csv", NOW)
    expires = int(NOW.timestamp()) + 60
    assert url.startswith(
        f"https://id.example.com/_api/admin/users/export/files/app-userexport_A-20260102030405Z.csv"
        f"?expires={expires}&signature="
    )
    signature = url.rsplit("=", 1)[1]
    key = "app-userexport_A-20260102030405Z.csv"
    signer = storage.signer
    assert signer.verify(key, str(expires), signature, NOW)
    assert signer.verify(key, str(expires), signature, NOW + timedelta(seconds=60))
    assert not signer.verify(key, str(expires), signature, NOW + timedelta(seconds=61))
    assert not signer.verify("other.csv", str(expires), signature, NOW)
    assert not signer.verify(key, str(expires + 1), signature, NOW)
    assert not signer.verify(key, str(expires), signature.upper(), NOW)
    assert not signer.verify(key, "-1", signature, NOW)
    assert not URLSigner(b"another secret").verify(key, str(expires), signature, NOW)


def test_files_older_than_24_hours_are_removed(storage, tmp_path):
    for name in ("old.csv", "new.csv"):
        with storage.writer(name) as out:
            out.write(b"x")
    (tmp_path / "exports" / "abandoned.csv.part").write_bytes(b"left by a killed worker")
    day_ago = (NOW - timedelta(hours=24, seconds=1)).timestamp()
    os.utime(tmp_path / "exports" / "old.csv", (day_ago, day_ago))
    os.utime(tmp_path / "exports" / "abandoned.csv.part", (day_ago, day_ago))
    later = NOW - timedelta(hours=24)
    assert sorted(storage.delete_older_than(later)) == ["abandoned.csv.part", "old.csv"]
    assert [p.name for p in (tmp_path / "exports").iterdir()] == ["new.csv"]
