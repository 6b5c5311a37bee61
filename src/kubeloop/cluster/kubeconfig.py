"""Kubeconfig files for kubeloop: a standalone one, and merging into the user's.

``render`` builds a self-contained kubeconfig (certificates embedded as
base64 ``*-data`` fields) whose cluster, user and context share one name,
``kubeloop`` by default.  ``write_standalone`` stores it (mode 0600,
atomically).

``merge_into_user_config`` / ``remove_from_user_config`` behave like kind's
``export kubeconfig`` / ``delete cluster``: the target file is the first
entry of ``$KUBECONFIG`` (colon-separated, empty entries skipped) or
``~/.kube/config``; only the entries carrying our names are added, replaced
or removed, every other key of the file (other clusters, users, contexts,
preferences, extensions, unknown fields) is kept as is.  Merging makes our
context current; removing it resets ``current-context`` to ``""`` when it was
ours.  Writes take client-go's lock (a ``<file>.lock`` symlink to our pid,
so ``kubectl config`` running concurrently is excluded too), go through a
temporary file and a rename, keep the existing file's mode and owner (new
files get 0600) and follow a symlinked kubeconfig to its real file.

The file is re-serialized by PyYAML, so comments and formatting in the
user's kubeconfig are not preserved (kind and kubectl behave the same).
"""

from __future__ import annotations

import base64
import copy
import os
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml

from kubeloop.cluster.pki import atomic_write

__all__ = [
    "DEFAULT_NAME",
    "KubeconfigError",
    "dumps",
    "load",
    "merge_into_user_config",
    "remove_from_user_config",
    "render",
    "user_config_path",
    "write_standalone",
]

DEFAULT_NAME = "kubeloop"
_SECTIONS = ("clusters", "users", "contexts")
_LOCK_TIMEOUT = 10.0


class KubeconfigError(Exception):
    """The user's kubeconfig cannot be read, parsed or locked."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render(server: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes, name: str = DEFAULT_NAME) -> dict:
    """A standalone kubeconfig dict for ``server`` with embedded credentials."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [
            {
                "name": name,
                "user": {"client-certificate-data": _b64(cert_pem), "client-key-data": _b64(key_pem)},
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }


def dumps(cfg: dict) -> bytes:
    """Serialize a kubeconfig dict to YAML bytes (key order kept)."""
    return yaml.safe_dump(cfg, default_flow_style=False, sort_keys=False).encode("utf-8")


def write_standalone(path: Path | str, cfg: dict) -> Path:
    """Write ``cfg`` to ``path`` (mode 0600, atomically); parents are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, dumps(cfg), mode=0o600)
    return path


def user_config_path() -> Path:
    """The kubeconfig kubeloop merges into: first ``$KUBECONFIG`` entry or ``~/.kube/config``."""
    env = os.environ.get("KUBECONFIG", "")
    for entry in env.split(os.pathsep):
        if entry.strip():
            return Path(entry).expanduser()
    return Path.home() / ".kube" / "config"


def load(path: Path | str) -> dict:
    """Parse a kubeconfig; a missing or empty file gives an empty config."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _empty_config()
    except OSError as e:
        raise KubeconfigError(f"cannot read {path}: {e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise KubeconfigError(f"{path} is not valid YAML: {e}") from e
    if data is None:
        return _empty_config()
    if not isinstance(data, dict):
        raise KubeconfigError(f"{path} is not a kubeconfig (top level is {type(data).__name__})")
    for section in _SECTIONS:
        if data.get(section) is None:
            continue
        if not isinstance(data[section], list):
            raise KubeconfigError(f"{path}: {section!r} is not a list")
    return data


def _empty_config() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [],
        "users": [],
        "contexts": [],
        "current-context": "",
    }


def merge_into_user_config(cfg: dict, path: Path | str | None = None) -> Path:
    """Add or replace ``cfg``'s cluster/user/context in the user's kubeconfig.

    Entries with other names are untouched; ``current-context`` becomes
    ``cfg``'s.  Returns the path written (``path`` or ``user_config_path()``).
    """
    target = Path(path) if path is not None else user_config_path()
    real = _real_path(target)
    real.parent.mkdir(parents=True, exist_ok=True)
    with _kubeconfig_lock(real):
        existing = load(real)
        merged = dict(existing)
        for section in _SECTIONS:
            merged[section] = _merge_entries(existing.get(section) or [], cfg.get(section) or [])
        merged["current-context"] = cfg.get("current-context", "")
        merged.setdefault("apiVersion", "v1")
        merged.setdefault("kind", "Config")
        _write_preserving(real, merged)
    return target


def remove_from_user_config(name: str = DEFAULT_NAME, path: Path | str | None = None) -> Path:
    """Remove the cluster, user and context called ``name`` from the user's kubeconfig.

    If ``name`` was the current context, ``current-context`` becomes ``""``.
    A missing file, or one without those entries, is left alone.
    """
    target = Path(path) if path is not None else user_config_path()
    real = _real_path(target)
    if not real.exists():
        return target
    with _kubeconfig_lock(real):
        existing = load(real)
        updated = dict(existing)
        changed = False
        for section in _SECTIONS:
            entries = existing.get(section) or []
            kept = [e for e in entries if _entry_name(e) != name]
            if len(kept) != len(entries):
                updated[section] = kept
                changed = True
        if existing.get("current-context") == name:
            updated["current-context"] = ""
            changed = True
        if changed:
            _write_preserving(real, updated)
    return target


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _entry_name(entry: Any) -> Any:
    return entry.get("name") if isinstance(entry, dict) else None


def _merge_entries(existing: list, new: list) -> list:
    """Replace same-named entries in place (dropping duplicates), append the rest."""
    incoming = {_entry_name(e): copy.deepcopy(e) for e in new}
    out: list = []
    placed: set = set()
    for entry in existing:
        n = _entry_name(entry)
        if n in incoming:
            if n not in placed:
                out.append(incoming[n])
                placed.add(n)
            continue
        out.append(entry)
    out.extend(e for n, e in incoming.items() if n not in placed)
    return out


def _real_path(path: Path) -> Path:
    """Follow a symlinked kubeconfig so the rename replaces the real file."""
    return Path(os.path.realpath(path))


def _write_preserving(path: Path, cfg: dict) -> None:
    mode, uid, gid = 0o600, None, None
    try:
        st = path.stat()
    except FileNotFoundError:
        pass
    else:
        mode = stat.S_IMODE(st.st_mode)
        if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
            uid, gid = st.st_uid, st.st_gid
    atomic_write(path, dumps(cfg), mode=mode, uid=uid, gid=gid)


@contextmanager
def _kubeconfig_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """client-go's kubeconfig lock: ``<path>.lock`` as a symlink to our pid.

    A lock left by a process that no longer exists is broken; a lock that is
    not a pid symlink (kind uses a plain file) is waited for.
    """
    lock = Path(str(path) + ".lock")
    deadline = time.monotonic() + (_LOCK_TIMEOUT if timeout is None else timeout)
    while True:
        try:
            os.symlink(str(os.getpid()), lock)
            break
        except FileExistsError:
            if _stale(lock):
                try:
                    os.unlink(lock)
                except FileNotFoundError:
                    pass
                continue
            if time.monotonic() > deadline:
                raise KubeconfigError(
                    f"{path} is locked by {lock}; remove it if no kubectl/kind/kubeloop is running"
                ) from None
            time.sleep(0.05)
    try:
        yield
    finally:
        try:
            os.unlink(lock)
        except FileNotFoundError:
            pass


def _stale(lock: Path) -> bool:
    try:
        pid = int(os.readlink(lock))
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return True
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
