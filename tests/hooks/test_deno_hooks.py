"""Deno hooks: real scripts in the project's `deno/` folder, run by the Deno runtime in its sandbox
and checked when the app starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.config import ConfigError
from app.extensions import db
from app.identities.models import User
from tests.hooks.conftest import login, signup

NOT_ALLOWED = """export default async function (e: any): Promise<any> {
  return { is_allowed: false, title: "Closed", reason: e.type };
}
"""
MUTATE = """export default async function (e: any): Promise<any> {
  const attrs = { ...e.payload.user.standard_attributes, nickname: "deno-" + e.context.user_id.length };
  return { is_allowed: true, mutations: { user: { standard_attributes: attrs } } };
}
"""
SANDBOX = """export default async function (e: any): Promise<any> {
  for (const probe of [() => Deno.readTextFile("/etc/passwd"), () => fetch("http://127.0.0.1:1/"),
                       async () => Deno.env.get("DATABASE_URL")]) {
    try { await probe(); return { is_allowed: true }; } catch (_) { /* denied, as expected */ }
  }
  return { is_allowed: false, title: "sandboxed", reason: "no file, loopback network or environment" };
}
"""
FOREVER = """export default async function (e: any): Promise<any> {
  while (true) { /* spin */ }
}
"""
THROWS = """export default async function (e: any): Promise<any> {
  console.log("about to fail");
  throw new Error("boom");
}
"""
TYPE_ERROR = """export default async function (e: any): Promise<number> {
  const n: number = "not a number";
  return n;
}
"""


def _project(tmp_path: Path, **scripts: str) -> Path:
    (tmp_path / "deno").mkdir()
    for name, source in scripts.items():
        (tmp_path / "deno" / f"{name}.ts").write_text(source, encoding="utf-8")
    return tmp_path


def _blocking(event: str, name: str) -> dict:
    return {"blocking_handlers": [{"event": event, "url": f"authgeardeno:///deno/{name}.ts"}]}


def test_deno_refusal_and_mutation(hook_app, tmp_path):
    project = _project(tmp_path, notallowed=NOT_ALLOWED, mutate=MUTATE)
    app = hook_app(_blocking("user.pre_create", "mutate"), config_dir=project)
    assert signup(app.test_client(), "denouser1").status_code == 200
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        assert user.standard_attributes["nickname"] == "deno-36"
    refusing = hook_app(_blocking("authentication.pre_authenticated", "notallowed"), config_dir=project)
    resp = login(refusing.test_client(), "denouser1")
    assert resp.status_code == 403
    assert resp.get_json()["error"]["info"]["reasons"] == [
        {"title": "Closed", "reason": "authentication.pre_authenticated"}
    ]


def test_deno_sandbox_denies_files_loopback_and_environment(hook_app, tmp_path):
    app = hook_app(_blocking("user.pre_create", "sandbox"), config_dir=_project(tmp_path, sandbox=SANDBOX))
    resp = signup(app.test_client(), "sandboxed1")
    assert resp.status_code == 403, resp.get_json()
    assert resp.get_json()["error"]["info"]["reasons"][0]["title"] == "sandboxed"


def test_deno_time_limit_and_errors(hook_app, tmp_path):
    project = _project(tmp_path, forever=FOREVER, throws=THROWS)
    hook = {"sync_hook_timeout_seconds": 1, **_blocking("user.pre_create", "forever")}
    resp = signup(hook_app(hook, config_dir=project).test_client(), "forever1")
    assert (resp.status_code, resp.get_json()["error"]["reason"]) == (500, "HookDeliveryTimeout")
    resp = signup(hook_app(_blocking("user.pre_create", "throws"), config_dir=project).test_client(), "throws1")
    error = resp.get_json()["error"]
    assert (resp.status_code, error["name"], error["reason"]) == (400, "BadRequest", "DenoRunError")
    assert "boom" in error["message"]
    assert "about to fail" in error["info"]["stdout"]["string"]


def test_scripts_are_checked_at_start(hook_app, tmp_path):
    project = _project(tmp_path, bad=TYPE_ERROR)
    with pytest.raises(ConfigError, match="DenoCheckError"):
        hook_app(_blocking("user.pre_create", "bad"), config_dir=project)
    with pytest.raises(ConfigError, match="DenoCheckError"):
        hook_app(_blocking("user.pre_create", "missing"), config_dir=project)


PRIVATE_NET = """export default async function (e: any): Promise<any> {
  const denied: string[] = [];
  for (const url of [PROBES]) {
    try { await fetch(url, { signal: AbortSignal.timeout(2000) }); } catch (err: any) {
      if (String(err).includes("NotCapable") || String(err?.cause).includes("net access")) denied.push(url);
    }
  }
  return { is_allowed: false, title: "probed", reason: denied.join(" ") };
}
"""


def test_deno_sandbox_denies_private_names_and_own_addresses(hook_app, tmp_path, receiver):
    """A host name of a loopback address, IPv4-mapped IPv6 and the machine's own addresses (IPv6
    unique-local included) are refused like loopback; the receiver on 127.0.0.1 is never reached."""
    from app.hooks.deno import host_addresses

    port = receiver.server.server_port
    probes = [f"http://localhost.:{port}/x", f"http://[::ffff:127.0.0.1]:{port}/x", f"http://0x7f000001:{port}/x"]
    probes += [f"http://{a}:{port}/x" for a in host_addresses()]
    script = PRIVATE_NET.replace("PROBES", ", ".join(f'"{p}"' for p in probes))
    app = hook_app(_blocking("user.pre_create", "probe"), config_dir=_project(tmp_path, probe=script))
    resp = signup(app.test_client(), "probed1")
    assert resp.status_code == 403
    assert resp.get_json()["error"]["info"]["reasons"][0]["reason"].split(" ") == probes
    assert receiver.events == {}
