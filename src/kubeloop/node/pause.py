"""The pod's sandbox holder: PID 1 of a pod, owner of its UTS, IPC, mount and PID namespaces.

Run as ``python -S -m kubeloop.node.pause <json-config>`` inside the pod's network namespace
(``nsenter --net=/run/netns/<pod>``). Two ways in:

* already PID 1 of fresh namespaces (``unshare --uts --ipc --mount --pid --fork
  --propagation private --mount-proc ... -m kubeloop.node.pause``): it sets the pod up;
* otherwise (the way ``kubeloop.node.sandbox`` starts it) it unshares UTS, IPC, mount and PID
  namespaces itself, forks the pod's PID 1, prints ``pid <host pid of PID 1>`` and stays as
  a small waiter that exits with PID 1's status and forwards SIGTERM/SIGINT to it. That
  tells the node agent PID 1's host pid exactly, without a search through /proc.

PID 1 then: mounts a fresh /proc for the pod's PID namespace, sets the hostname, detaches
the host's mounts below /run (other namespaces' bind mounts), mounts the per-pod writable
directories (/tmp, /run, /var as an overlay over the host's /var, a private /dev/shm),
bind-mounts the per-pod /etc/hosts, /etc/resolv.conf and /etc/hostname, makes the rest of
the host filesystem read-only (in this mount namespace only: the host is not affected),
prints ``ready``, then reaps zombies until SIGTERM/SIGINT, when it exits (taking every
process of the pod with it).

Config keys: hostname, binds {target: source dir}, overlays {target: {upper, work}},
files {target: source file}, shm_size, mount_proc (bool). Failures go to stderr and exit 1.

It must stay tiny and import only the standard library: it starts with every pod (``-S``
keeps start-up near 20 ms) and must not import the rest of kubeloop.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
SYS_MOUNT_SETATTR = 442  # same number on every architecture
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.syscall.restype = ctypes.c_long


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(s: str | None) -> bytes | None:
    return s.encode() if s is not None else None


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {target}")


def set_readonly(path: str, readonly: bool, recursive: bool) -> None:
    attr = _MountAttr(MOUNT_ATTR_RDONLY if readonly else 0, 0 if readonly else MOUNT_ATTR_RDONLY, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    rc = _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, _b(path), flags, ctypes.byref(attr), ctypes.sizeof(attr))
    if rc == 0:
        return
    err = ctypes.get_errno()
    if err != 38:  # not ENOSYS
        raise OSError(err, f"mount_setattr {path}: {os.strerror(err)}")
    # Kernels before 5.12: per-mount remount. Only "/" is made read-only (no recursion).
    if readonly and path == "/":
        mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | _keep_flags("/"))
    elif not readonly:
        mount(None, path, None, MS_REMOUNT | MS_BIND | _keep_flags(path))


def _keep_flags(path: str) -> int:
    f = os.statvfs(path).f_flag
    return ((MS_NOSUID if f & os.ST_NOSUID else 0) | (MS_NODEV if f & os.ST_NODEV else 0)
            | (MS_NOEXEC if f & os.ST_NOEXEC else 0))


def _mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split(" ", 5)[4]
            points.append(mp.encode().decode("unicode_escape") if "\\" in mp else mp)
    return points


def _detach_below(root: str) -> None:
    """Lazily unmount every mount strictly below root (deepest first)."""
    below = [p for p in _mount_points() if p.startswith(root.rstrip("/") + "/")]
    for mp in sorted(set(below), key=len, reverse=True):
        _libc.umount2(_b(mp), MNT_DETACH)  # errors: already gone with a parent


def _bind_file(source: str, target: str) -> str:
    """Bind source over target (following symlinks); create a missing target. Returns the path."""
    real = os.path.realpath(target)
    if not os.path.exists(real):
        os.makedirs(os.path.dirname(real), exist_ok=True)
        with open(real, "a"):
            pass
    mount(source, real, None, MS_BIND)
    return real


def setup(cfg: dict[str, Any]) -> None:
    """Set up the pod as its PID 1 (in fresh UTS, IPC, mount and PID namespaces)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    if cfg.get("mount_proc", True):
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    hostname = cfg["hostname"].encode()
    _check(_libc.sethostname(hostname, len(hostname)), "sethostname")

    # Sources are opened before anything is mounted over them (a state directory may lie
    # below /tmp, /run or /var); binds then use /proc/self/fd/N.
    bind_fds = {t: os.open(s, os.O_PATH | os.O_CLOEXEC) for t, s in cfg.get("binds", {}).items()}
    file_fds = {t: os.open(s, os.O_PATH | os.O_CLOEXEC) for t, s in cfg.get("files", {}).items()}
    # Host directories the pod must still see although they lie below a private /tmp or /run
    # (kubeloop's own interpreter and code, when installed there): re-exposed read-only.
    expose_fds = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for p in cfg.get("expose", []) if os.path.isdir(p)}
    _detach_below("/run")
    writable: list[tuple[str, bool]] = [("/dev", True)]
    for target, layer in cfg.get("overlays", {}).items():
        try:
            mount("overlay", target, "overlay", 0,
                  f"lowerdir={target},upperdir={layer['upper']},workdir={layer['work']}")
        except OSError as e:  # e.g. upper below lower, or a file system overlay refuses
            print(f"pause: overlay on {target} failed ({e}); using an empty directory", file=sys.stderr)
            mount(layer["upper"], target, None, MS_BIND)
        writable.append((target, False))
    for target, fd in bind_fds.items():
        mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        writable.append((target, True))
    shm_size = cfg.get("shm_size", "64m")
    mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, f"mode=1777,size={shm_size}")
    for target, fd in file_fds.items():
        writable.append((_bind_file(f"/proc/self/fd/{fd}", target), False))
    for path, fd in expose_fds.items():
        os.makedirs(path, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
    for fd in (*bind_fds.values(), *file_fds.values(), *expose_fds.values()):
        os.close(fd)
    if os.path.isdir("/proc/sys"):
        mount("/proc/sys", "/proc/sys", None, MS_BIND)

    set_readonly("/", True, recursive=True)
    set_readonly("/proc", False, recursive=False)  # /proc/sys stays read-only
    for path, recursive in writable:
        set_readonly(path, False, recursive=recursive)
    for path in expose_fds:
        set_readonly(path, True, recursive=True)


def _reap_forever() -> None:
    waited = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    for sig in waited:
        # PID 1 only receives signals it has a handler for; the handler never runs because
        # the signals are blocked and taken with sigwaitinfo.
        signal.signal(sig, lambda *_: None)
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    while True:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        info = signal.sigwaitinfo(waited)
        if info.si_signo != signal.SIGCHLD:
            os._exit(0)


def _unshare_and_fork() -> None:
    """Enter new namespaces; the parent becomes a waiter and never returns."""
    _check(_libc.unshare(CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNS | CLONE_NEWPID), "unshare")
    child = os.fork()
    if child == 0:
        return
    print(f"pid {child}", flush=True)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.close(devnull)

    def forward(sig: int, _frame: object) -> None:
        try:
            os.kill(child, sig)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            os._exit(1)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        print("usage: python -S -m kubeloop.node.pause <json-config>", file=sys.stderr)
        os._exit(2)
    cfg = json.loads(argv[1])
    already_pid1 = os.getpid() == 1
    if not already_pid1:
        _unshare_and_fork()
    else:
        cfg.setdefault("mount_proc", False)  # unshare --mount-proc did it
    try:
        setup(cfg)
    except Exception as e:  # report and let the node agent clean up
        print(f"pause: setup failed: {e}", file=sys.stderr, flush=True)
        os._exit(1)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.dup2(devnull, 0)
    os.close(devnull)
    _reap_forever()


if __name__ == "__main__":
    main(sys.argv)
