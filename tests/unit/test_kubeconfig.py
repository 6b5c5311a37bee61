"""Kubeconfig rendering, kind-style merge/remove into the user's file, and real kubectl."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from kubeloop.cluster import kubeconfig as kc
from kubeloop.cluster.kubeconfig import (
    KubeconfigError,
    merge_into_user_config,
    remove_from_user_config,
    render,
    user_config_path,
    write_standalone,
)
from kubeloop.cluster.pki import Pki, default_server_sans, ensure_pki, identity_from_peercert, server_ssl_context

KUBECTL = "/usr/bin/kubectl" if os.path.exists("/usr/bin/kubectl") else shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")

OTHER = {
    "apiVersion": "v1",
    "kind": "Config",
    "preferences": {"colors": True},
    "clusters": [
        {"name": "prod", "cluster": {"server": "https://prod.example:6443", "insecure-skip-tls-verify": True}},
    ],
    "users": [{"name": "prod-admin", "user": {"token": "s3cr3t"}}],
    "contexts": [
        {"name": "prod", "context": {"cluster": "prod", "user": "prod-admin", "namespace": "web"}},
    ],
    "current-context": "prod",
    "extensions": [{"name": "acme", "extension": {"hello": "world"}}],
}


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the real ~/.kube: HOME points into tmp_path, KUBECONFIG unset."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return home


def _cfg(server: str = "https://127.0.0.1:6443", name: str = "kubeloop") -> dict:
    return render(server, b"CA-PEM", b"CERT-PEM", b"KEY-PEM", name=name)


def _write_yaml(path: Path, data: dict, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    os.chmod(path, mode)


def _read(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _names(cfg: dict, section: str) -> list[str]:
    return [e["name"] for e in cfg.get(section) or []]


# --------------------------------------------------------------------------
# render / standalone
# --------------------------------------------------------------------------


def test_render() -> None:
    cfg = _cfg()
    assert cfg["current-context"] == "kubeloop"
    (cluster,) = cfg["clusters"]
    (user,) = cfg["users"]
    (ctx,) = cfg["contexts"]
    assert cluster["name"] == user["name"] == ctx["name"] == "kubeloop"
    assert ctx["context"] == {"cluster": "kubeloop", "user": "kubeloop"}
    assert cluster["cluster"]["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == b"CA-PEM"
    assert base64.b64decode(user["user"]["client-certificate-data"]) == b"CERT-PEM"
    assert base64.b64decode(user["user"]["client-key-data"]) == b"KEY-PEM"
    assert _names(_cfg(name="other"), "clusters") == ["other"]


def test_write_standalone(tmp_path: Path) -> None:
    path = write_standalone(tmp_path / "out" / "admin.conf", _cfg())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _read(path) == _cfg()
    assert os.listdir(path.parent) == ["admin.conf"]
    # overwrite of a world-readable file still ends at 0600
    os.chmod(path, 0o644)
    write_standalone(path, _cfg("https://127.0.0.1:1"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _read(path)["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:1"


# --------------------------------------------------------------------------
# which file
# --------------------------------------------------------------------------


def test_user_config_path_default(isolated_home: Path) -> None:
    assert user_config_path() == isolated_home / ".kube" / "config"


def test_user_config_path_kubeconfig_first_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    monkeypatch.setenv("KUBECONFIG", f"{a}:{b}")
    assert user_config_path() == a
    monkeypatch.setenv("KUBECONFIG", f":{b}")
    assert user_config_path() == b
    monkeypatch.setenv("KUBECONFIG", "")
    assert user_config_path() == Path(os.environ["HOME"]) / ".kube" / "config"


def test_merge_creates_default_file(isolated_home: Path) -> None:
    path = merge_into_user_config(_cfg())
    assert path == isolated_home / ".kube" / "config"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cfg = _read(path)
    assert cfg["current-context"] == "kubeloop"
    assert _names(cfg, "clusters") == _names(cfg, "users") == _names(cfg, "contexts") == ["kubeloop"]
    assert not (path.parent / "config.lock").exists()


def test_merge_with_two_kubeconfig_paths_picks_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "kc" / "first.yaml", tmp_path / "second.yaml"
    _write_yaml(second, OTHER)
    original_second = second.read_bytes()
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{second}")
    assert merge_into_user_config(_cfg()) == first
    assert _names(_read(first), "contexts") == ["kubeloop"]
    assert second.read_bytes() == original_second
    assert remove_from_user_config() == first
    assert _names(_read(first), "contexts") == []
    assert second.read_bytes() == original_second
    assert not (Path(os.environ["HOME"]) / ".kube").exists()


# --------------------------------------------------------------------------
# merge / remove
# --------------------------------------------------------------------------


def test_merge_keeps_other_entries(tmp_path: Path) -> None:
    path = tmp_path / "kube" / "config"
    _write_yaml(path, OTHER)
    assert merge_into_user_config(_cfg(), path) == path
    cfg = _read(path)
    assert cfg["current-context"] == "kubeloop"
    for section in ("clusters", "users", "contexts"):
        assert _names(cfg, section) == [OTHER[section][0]["name"], "kubeloop"]
        assert cfg[section][0] == OTHER[section][0]
    assert cfg["preferences"] == OTHER["preferences"]
    assert cfg["extensions"] == OTHER["extensions"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["config"]  # no temp or lock files left


def test_merge_is_idempotent_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "config"
    _write_yaml(path, OTHER)
    merge_into_user_config(_cfg(), path)
    once = path.read_bytes()
    merge_into_user_config(_cfg(), path)
    assert path.read_bytes() == once

    merge_into_user_config(_cfg("https://127.0.0.1:7443"), path)
    cfg = _read(path)
    assert _names(cfg, "clusters") == ["prod", "kubeloop"]  # replaced in place, not appended
    assert cfg["clusters"][1]["cluster"]["server"] == "https://127.0.0.1:7443"


def test_merge_collapses_duplicate_entries(tmp_path: Path) -> None:
    path = tmp_path / "config"
    data = dict(OTHER)
    data["clusters"] = [
        {"name": "kubeloop", "cluster": {"server": "x"}},
        *OTHER["clusters"],
        {"name": "kubeloop", "cluster": {"server": "y"}},
    ]
    _write_yaml(path, data)
    merge_into_user_config(_cfg(), path)
    cfg = _read(path)
    assert _names(cfg, "clusters") == ["kubeloop", "prod"]  # first position kept
    assert cfg["clusters"][0] == _cfg()["clusters"][0]


def test_remove_restores(tmp_path: Path) -> None:
    path = tmp_path / "config"
    _write_yaml(path, OTHER)
    merge_into_user_config(_cfg(), path)
    remove_from_user_config(path=path)
    cfg = _read(path)
    # current-context was ours, so it is cleared as kind does; all else as before
    assert cfg["current-context"] == ""
    assert {k: v for k, v in cfg.items() if k != "current-context"} == {
        k: v for k, v in OTHER.items() if k != "current-context"
    }
    # removing again changes nothing
    before = path.read_bytes()
    remove_from_user_config(path=path)
    assert path.read_bytes() == before


def test_remove_keeps_foreign_current_context(tmp_path: Path) -> None:
    path = tmp_path / "config"
    _write_yaml(path, OTHER)
    merge_into_user_config(_cfg(), path)
    cfg = _read(path)
    cfg["current-context"] = "prod"
    _write_yaml(path, cfg)
    remove_from_user_config(path=path)
    assert _read(path) == OTHER


def test_remove_missing_file_is_noop(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "config"
    assert remove_from_user_config(path=path) == path
    assert not path.parent.exists()


def test_mode_and_symlink_preserved(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "kubeconfig"
    _write_yaml(real, OTHER, mode=0o640)
    link = tmp_path / "config"
    link.symlink_to(real)
    merge_into_user_config(_cfg(), link)
    assert link.is_symlink()
    assert _names(_read(real), "contexts") == ["prod", "kubeloop"]
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


def test_empty_and_invalid_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    merge_into_user_config(_cfg(), empty)
    assert _read(empty)["current-context"] == "kubeloop"

    bad = tmp_path / "bad"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(KubeconfigError):
        merge_into_user_config(_cfg(), bad)
    assert bad.read_text() == "- just\n- a list\n"
    assert not Path(str(bad) + ".lock").exists()


def test_lock_stale_and_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config"
    lock = tmp_path / "config.lock"
    # a lock left behind by a dead process is broken
    dead = subprocess.Popen(["true"])
    dead.wait()
    os.symlink(str(dead.pid), lock)
    merge_into_user_config(_cfg(), path)
    assert not os.path.lexists(lock)
    # a lock held by a live process (ours, standing in for kubectl) makes us wait, then fail
    os.symlink(str(os.getpid()), lock)
    monkeypatch.setattr(kc, "_LOCK_TIMEOUT", 0.2)
    with pytest.raises(KubeconfigError, match="locked"):
        merge_into_user_config(_cfg("https://other:1"), path)
    assert os.path.lexists(lock)
    os.unlink(lock)


# --------------------------------------------------------------------------
# real kubectl
# --------------------------------------------------------------------------


@pytest.mark.kubectl
@needs_kubectl
def test_kubectl_reads_merged_config(tmp_path: Path) -> None:
    path = tmp_path / "config"
    _write_yaml(path, OTHER)
    merge_into_user_config(_cfg("https://127.0.0.1:6443"), path)
    r = subprocess.run(
        [KUBECTL, "--kubeconfig", str(path), "config", "view", "--minify", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    view = json.loads(r.stdout)
    assert view["current-context"] == "kubeloop"
    assert [c["name"] for c in view["contexts"]] == ["kubeloop"]
    assert view["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"

    r = subprocess.run(
        [KUBECTL, "--kubeconfig", str(path), "config", "get-contexts", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == ["kubeloop", "prod"]

    # and kubectl can still edit the file we wrote (no lock left, valid YAML)
    r = subprocess.run(
        [KUBECTL, "--kubeconfig", str(path), "config", "use-context", "prod"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert _read(path)["current-context"] == "prod"


@pytest.mark.kubectl
@needs_kubectl
async def test_kubectl_authenticates_with_rendered_config(tmp_path: Path) -> None:
    """Go's TLS stack accepts our ECDSA certificates and sends the admin client cert."""
    ips, names = default_server_sans()
    pki: Pki = ensure_pki(tmp_path / "data", server_ips=ips, server_names=names)

    async def whoami(request: web.Request) -> web.Response:
        ident = identity_from_peercert(request.transport.get_extra_info("peercert"))
        if ident is None:
            return web.json_response({"kind": "Status", "code": 401}, status=401)
        return web.json_response({"user": ident[0], "groups": ident[1]})

    app = web.Application()
    app.router.add_get("/whoami", whoami)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(pki))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        cert, key = pki.admin_pem()
        conf = write_standalone(tmp_path / "admin.conf", render(f"https://127.0.0.1:{port}", pki.ca_pem(), cert, key))
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, "--kubeconfig", str(conf), "get", "--raw", "/whoami",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert json.loads(out) == {"user": "kubernetes-admin", "groups": ["system:masters"]}
    finally:
        await runner.cleanup()
