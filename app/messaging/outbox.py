"""The outbox folder of the embedded default: messages that would have been sent, one file each.

`<config_dir>/outbox`, or a private temporary folder when there is no project directory. Files
hold one-time codes, so the folder is 0700 and the files 0600.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
from datetime import datetime
from pathlib import Path


class Outbox:
    def __init__(self, directory: Path | None) -> None:
        self._directory = directory
        self._lock = threading.Lock()

    @property
    def directory(self) -> Path:
        with self._lock:
            if self._directory is None:
                self._directory = Path(tempfile.mkdtemp(prefix="gatehouse-outbox-"))
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            return self._directory

    def write(self, label: str, suffix: str, content: bytes, now: datetime | None = None) -> Path:
        stamp = (now or datetime.now()).strftime("%Y%m%dT%H%M%S")
        path = self.directory / f"{stamp}-{label}-{secrets.token_hex(4)}.{suffix}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        return path
