"""Where export files live: a storage interface, and the local-disk implementation used by default.

Files (0600, in a 0700 folder: they hold personal data and TOTP secrets) are written under a
temporary name and published by an atomic rename, so a download never sees half a file and a
worker killed while writing leaves only a `.part` file that cleanup removes.
Downloads go through signed URLs valid for 60 seconds (contract 5.1): an HMAC-SHA256 over the
file name and the expiry time, with a key derived from the project's secrets, checked in
constant time. Files older than 24 hours are removed by `delete_older_than`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote, urlencode

from flask import Flask

DOWNLOAD_URL_SECONDS = 60
DOWNLOAD_PATH = "/_api/admin/users/export/files/"
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_PART = ".part"


class ExportStorage(Protocol):
    def writer(self, key: str) -> AbstractContextManager[BinaryIO]: ...
    def _private_directory(self) -> None:
        """The folder, 0700 (also when an earlier version created it 0755)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(self.directory.stat().st_mode) != 0o700:
            self.directory.chmod(0o700)

    def open(self, key: str) -> BinaryIO: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def delete_older_than(self, cutoff: datetime) -> list[str]: ...
    def download_url(self, key: str, now: datetime) -> str: ...


def valid_key(key: str) -> bool:
    """File names are `<app id>-<task id>-<time>Z.<format>`: no separators, no `..`."""
    return bool(_KEY.match(key)) and ".." not in key and not key.endswith(_PART)


class URLSigner:
    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"gatehouse user export download", hashlib.sha256).digest()

    def signature(self, key: str, expires: int) -> str:
        return hmac.new(self._key, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def verify(self, key: str, expires: str, signature: str, now: datetime) -> bool:
        """True when the signature is ours and the URL has not expired."""
        if not expires.isdigit() or len(expires) > 12 or not isinstance(signature, str):
            return False
        good = hmac.compare_digest(self.signature(key, int(expires)).encode(), signature.encode())
        return good and now.timestamp() <= int(expires)


class LocalDiskStorage:
    def __init__(self, directory: Path, signer: URLSigner, base_url: str) -> None:
        self.directory = directory
        self.signer = signer
        self.base_url = base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        if not valid_key(key):
            raise ValueError(f"invalid file name {key!r}")
        return self.directory / key

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        """A binary file that becomes `key` when the block ends without an error."""
        final = self._path(key)
        self._private_directory()
        part = final.with_name(final.name + _PART)
        try:
            # Created 0600 from the first byte: exports hold personal data and TOTP secrets.
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # a `.part` file left by an earlier version keeps its mode otherwise
            with os.fdopen(fd, "wb") as out:
                yield out
                out.flush()
                os.fsync(out.fileno())
            os.replace(part, final)
        finally:
            part.unlink(missing_ok=True)

    def _private_directory(self) -> None:
        """The folder, 0700 (also when an earlier version created it 0755)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(self.directory.stat().st_mode) != 0o700:
            self.directory.chmod(0o700)

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")  # noqa: SIM115 (the caller streams and closes it)

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except ValueError:
            return False

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except ValueError:
            pass

    def delete_older_than(self, cutoff: datetime) -> list[str]:
        """Removes files (and abandoned `.part` files) last written before `cutoff`."""
        removed: list[str] = []
        if not self.directory.is_dir():
            return removed
        limit = cutoff.timestamp()
        for entry in self.directory.iterdir():
            try:
                if entry.is_file() and entry.stat().st_mtime < limit:
                    entry.unlink(missing_ok=True)
                    removed.append(entry.name)
            except OSError:
                continue
        return removed

    def download_url(self, key: str, now: datetime) -> str:
        expires = int(now.timestamp()) + DOWNLOAD_URL_SECONDS
        query = urlencode({"expires": expires, "signature": self.signer.signature(key, expires)})
        return f"{self.base_url}{DOWNLOAD_PATH}{quote(key)}?{query}"


def export_storage(app: Flask) -> LocalDiskStorage:
    """The app's export storage: `<project dir>/exports`, or a private temporary directory for an
    app built without a project directory (tests)."""
    storage = app.extensions.get("gatehouse.exports")
    if storage is None:
        config = app.extensions["gatehouse"].config
        if config.config_dir is not None:
            directory = Path(config.config_dir) / "exports"
        else:
            directory = Path(tempfile.mkdtemp(prefix="gatehouse-exports-"))
        secret = str(app.config["SECRET_KEY"]).encode()
        storage = LocalDiskStorage(directory, URLSigner(secret), config.public_origin)
        app.extensions["gatehouse.exports"] = storage
    return storage
