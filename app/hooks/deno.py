"""Deno hooks: `authgeardeno:///deno/<name>.ts` names a TypeScript file of the project directory
whose default export takes the event and returns what a webhook would answer (Authgear's
hook_deno.go and its Deno runner).

Each run is a fresh `deno run` (about 50 ms) of a small wrapper that imports the script, reads
`{input, marker}` from stdin and writes the result after the marker, so whatever the script
prints stays its stdout. The sandbox: no file system, environment, subprocess or FFI access
(Deno's permissions: none granted but the network); network to public addresses only (loopback,
private, link-local and metadata ranges and the machine's own addresses denied, so a script
cannot reach Gatehouse's database, Redis or the machine's other services); a V8 heap limit; and a
wall-clock limit after which the process group is killed. Scripts are type-checked (`deno check`) when the app starts.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.hooks.errors import DenoCheckError, DenoRunError, HookDeliveryTimeout

SCHEME = "authgeardeno"
# Authgear's DenoFileFilenameRegexp: scripts live in `deno/` and have plain names.
SCRIPT_PATH = re.compile(r"^deno/[.0-9a-zA-Z]+\.ts$")
MAX_SCRIPT_BYTES = 100 * 1024  # contract section 10
HEAP_LIMIT_MB = 128
# What a script may not connect to, as `--deny-net` takes it. Deno checks the address a host name
# resolves to when it connects, so a name of a private address is refused like the address, and it
# reads IPv4-mapped IPv6 addresses as IPv4. Deno takes IPv6 addresses but no IPv6 ranges: the
# well-known single ones are listed (loopback, unspecified, the cloud metadata endpoints), and the
# machine's own addresses are added at start (`host_addresses`), so services listening on this
# machine, IPv6 unique-local or not, cannot be reached; other hosts of a private IPv6 network can.
DENIED_NET = (
    "localhost,127.0.0.0/8,0.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,"
    "100.64.0.0/10,192.0.0.0/24,198.18.0.0/15,224.0.0.0/4,240.0.0.0/4,"
    "[::1],[::],[fd00:ec2::254],[fd20:ce::254],metadata.google.internal,metadata.goog"
)
# Captured stdout/stderr kept in DenoRunError (Authgear's Stream: string + truncated).
MAX_STREAM_CHARS = 1000

_WRAPPER = """import handler from {script};
const request = JSON.parse(await new Response(Deno.stdin.readable).text());
let result;
try {{
  result = {{ output: (await handler(request.input)) ?? null }};
}} catch (e: any) {{
  result = {{ error: String(e && e.stack ? e.stack : e) }};
}}
await Deno.stdout.write(new TextEncoder().encode("\\n" + request.marker + JSON.stringify(result) + "\\n"));
"""


def host_addresses() -> list[str]:
    """This machine's own IPv4 and IPv6 addresses (Linux: /proc), as `--deny-net` entries."""
    out: list[str] = []
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            raw = line.split()[0]
            out.append("[" + str(ipaddress.IPv6Address(bytes.fromhex(raw))) + "]")
    except (OSError, ValueError, IndexError):
        pass
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        for previous, line in zip(lines, lines[1:], strict=False):
            if line.strip() == "/32 host LOCAL":
                out.append(str(ipaddress.IPv4Address(previous.split()[-1])))
    except (OSError, ValueError, IndexError):
        pass
    return sorted(set(out))


def denied_net() -> str:
    return ",".join([DENIED_NET, *host_addresses()])


def deno_binary() -> str:
    """The `deno` executable of the `deno` package (pinned in setup.cfg), or one on PATH."""
    try:
        from deno import find_deno_bin

        return find_deno_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("deno")
        if found is None:
            raise DenoCheckError("the deno executable is not installed") from None
        return found


def is_deno_url(url: str) -> bool:
    return url.startswith(SCHEME + ":")


def _stream(text: str) -> dict[str, Any] | None:
    if not text:
        return None
    out: dict[str, Any] = {"string": text[:MAX_STREAM_CHARS]}
    if len(text) > MAX_STREAM_CHARS:
        out["truncated"] = True
    return out


class DenoRunner:
    def __init__(self, project_dir: Path, heap_limit_mb: int = HEAP_LIMIT_MB) -> None:
        self.project_dir = project_dir.resolve()
        self.heap_limit_mb = heap_limit_mb
        self.binary = deno_binary()
        # Wrappers and Deno's module cache live outside the project, readable by this user only.
        self.work_dir = Path(tempfile.mkdtemp(prefix="gatehouse-deno-"))
        self._wrappers: dict[str, Path] = {}
        self.denied_net = denied_net()
        self._lock = threading.Lock()

    def script_path(self, url: str) -> Path:
        parts = urlsplit(url)
        rel = parts.path.lstrip("/")
        if parts.scheme != SCHEME or parts.netloc or not SCRIPT_PATH.match(rel):
            raise DenoCheckError(f"{url}: a Deno hook is authgeardeno:///deno/<name>.ts")
        path = self.project_dir / rel
        if not path.is_file():
            raise DenoCheckError(f"{url}: {rel} is not in the project directory")
        if path.stat().st_size > MAX_SCRIPT_BYTES:
            raise DenoCheckError(f"{url}: the script is larger than {MAX_SCRIPT_BYTES} bytes")
        return path

    def _wrapper(self, url: str) -> Path:
        """The wrapper of a script (one per URL); it imports the project's file, so an edited
        script runs as edited."""
        script = self.script_path(url)
        with self._lock:
            wrapper = self._wrappers.get(url)
            if wrapper is None:
                name = hashlib.sha256(url.encode()).hexdigest()[:16]
                wrapper = self.work_dir / f"run-{name}.ts"
                wrapper.write_text(_WRAPPER.format(script=json.dumps(script.as_uri())), encoding="utf-8")
                self._wrappers[url] = wrapper
        return wrapper

    def _env(self) -> dict[str, str]:
        # Nothing of Gatehouse's environment (database URLs, keys) reaches the script.
        return {
            "DENO_DIR": str(self.work_dir / "cache"),
            "DENO_NO_UPDATE_CHECK": "1",
            "NO_COLOR": "1",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }

    def check(self, url: str, timeout: float = 120.0) -> None:
        """`deno check` of the script as it will run; DenoCheckError with the compiler's output."""
        wrapper = self._wrapper(url)
        try:
            proc = subprocess.run(  # noqa: S603 (fixed arguments)
                [self.binary, "check", "--quiet", "--no-config", "--no-lock", str(wrapper)],
                env=self._env(),
                capture_output=True,
                timeout=timeout,
                cwd=self.work_dir,
            )
        except subprocess.TimeoutExpired:
            raise DenoCheckError(f"{url}: deno check did not finish in {timeout:.0f} s") from None
        if proc.returncode != 0:
            stderr = proc.stderr.decode("utf-8", "replace").replace(str(self.work_dir), "")
            raise DenoCheckError(f"{url}: {stderr.strip() or 'deno check failed'}")

    def run(self, url: str, input_: Any, timeout: float) -> Any:
        """The default export's result for `input_`, within `timeout` seconds."""
        wrapper = self._wrapper(url)
        marker = "@@gatehouse-" + secrets.token_hex(8) + "@@"
        request = json.dumps({"input": input_, "marker": marker}).encode("utf-8")
        args = [
            self.binary,
            "run",
            "--quiet",
            "--no-prompt",
            "--no-config",
            "--no-lock",
            "--allow-net",
            f"--deny-net={self.denied_net}",
            f"--v8-flags=--max-old-space-size={self.heap_limit_mb}",
            str(wrapper),
        ]
        proc = subprocess.Popen(  # noqa: S603 (fixed arguments)
            args,
            env=self._env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.work_dir,
            start_new_session=True,  # its own process group, killed whole on timeout
        )
        try:
            out, err = proc.communicate(request, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise HookDeliveryTimeout("deno hook timeout", {"timeout": timeout}) from None
        stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        head, found, tail = stdout.rpartition("\n" + marker)
        if not found:
            message = "deno hook exited without a result"
            if "out of memory" in stderr:
                message = f"deno hook ran out of memory ({self.heap_limit_mb} MB)"
            raise DenoRunError(message, _stream(stdout), _stream(stderr))
        result = json.loads(tail)
        if "error" in result:
            raise DenoRunError(result["error"].splitlines()[0], _stream(head), _stream(stderr))
        return result["output"]
