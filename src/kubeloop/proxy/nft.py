"""Running nft for the proxy: one script, one atomic transaction, in a chosen namespace.

``Nft(netns)`` runs a script inside network namespace ``netns`` (a name in /run/netns, or a
path), or in this process's namespace when ``netns`` is None. A script is one netlink batch:
it applies entirely or not at all. ``delete_table`` removes the proxy's table and nothing
else.

Two backends, same scripts and error messages:

* libnftables (the library the ``nft`` tool is built on) through ctypes, used when it can be
  loaded. Spawning ``nft`` (and ``nsenter``) cost ~25 ms per transaction on top of nft's own
  work (a one-service update at 1,000 services: 32 ms through the tool, 8 ms through the
  library). Calls run in one worker thread of this process, so the event loop is never
  blocked and the library (which has process-wide state) is never entered twice at once.
  A network namespace is per thread in Linux: for each call the worker enters the target
  namespace (``setns``), creates a context -- whose netlink socket belongs to the namespace
  it was created in --, runs the script, frees the context and goes back to the namespace it
  came from. So nothing keeps a namespace alive between calls (a deleted node's namespace
  really goes away), at ~0.4 ms a call; nft 1.0.6 reloads its cache for every command
  anyway, so a context kept across calls would save nothing else.
* the ``nft`` tool (``nft -f -``, through ``nsenter --net=...`` for another namespace): the
  fallback when the library is missing, or when asked for (``backend="tool"``).

It renders nothing (see ``rules``) and never touches a table other than the one named in the
scripts it is given.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import ctypes.util
import os
import shutil
import threading
import time

from .rules import FAMILY, TABLE, delete_table_script

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
LIBRARY = "libnftables.so.1"


class NftError(RuntimeError):
    """nft refused a script; the message carries nft's error output."""


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not found:
        raise NftError(f"{name} is not installed")
    return found


def netns_path(netns: str) -> str:
    """A namespace given by name (in /run/netns) or by path, as a path."""
    return netns if netns.startswith("/") else f"{NETNS_DIR}/{netns}"


def _same_netns(path: str, own: str = "/proc/self/ns/net") -> bool:
    try:
        a, b = os.stat(own), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


# -- libnftables ----------------------------------------------------------------------------

class _Library:
    """libnftables and libc's setns, loaded once; every call runs in ``_worker``."""

    def __init__(self, path: str) -> None:
        lib = ctypes.CDLL(path)
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_free.restype = None
        for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
            getattr(lib, name).restype = ctypes.c_int
        for name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
            getattr(lib, name).restype = ctypes.c_char_p
        lib.nft_ctx_set_dry_run.argtypes = [ctypes.c_void_p, ctypes.c_bool]
        lib.nft_ctx_set_dry_run.restype = None
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        self.lib = lib
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
        self.libc.setns.restype = ctypes.c_int
        # One thread for every Nft of the process: library calls never overlap.
        self.worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="libnftables")
        self.poisoned = ""  # set if the worker could not return to its namespace

    def _setns(self, fd: int, what: str) -> None:
        if self.libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {what}: {os.strerror(err)}")

    def run(self, netns: str | None, script: str, dry_run: bool) -> str:
        """In the worker thread: run ``script`` in ``netns``; return nft's output."""
        if self.poisoned:
            raise NftError(self.poisoned)
        back = -1
        try:
            if netns is not None:
                path = netns_path(netns)
                if not _same_netns(path, "/proc/thread-self/ns/net"):
                    try:
                        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                    except FileNotFoundError:
                        raise NftError(f"network namespace {netns} does not exist") from None
                    try:
                        back = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                        self._setns(target, path)
                    finally:
                        os.close(target)
            return self._run(script, dry_run)
        except OSError as e:
            raise NftError(f"nft: {e}") from e
        finally:
            if back >= 0:
                try:
                    self._setns(back, "the worker's own namespace")
                except OSError as e:  # never run another namespace's commands by mistake
                    self.poisoned = f"libnftables worker is stuck in another namespace: {e}"
                finally:
                    os.close(back)

    def _run(self, script: str, dry_run: bool) -> str:
        lib = self.lib
        ctx = lib.nft_ctx_new(0)
        if not ctx:
            raise NftError("nft_ctx_new failed")
        try:
            lib.nft_ctx_buffer_output(ctx)
            lib.nft_ctx_buffer_error(ctx)
            if dry_run:
                lib.nft_ctx_set_dry_run(ctx, True)
            rc = lib.nft_run_cmd_from_buffer(ctx, script.encode())
            out = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode(errors="replace")
            err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode(errors="replace")
        finally:
            lib.nft_ctx_free(ctx)
        if rc != 0:
            raise NftError(_trim(err) or f"nft failed ({rc})")
        return out


_library: _Library | None = None
_library_error = ""
_library_lock = threading.Lock()


def library() -> _Library | None:
    """libnftables if it can be loaded (None otherwise; ``library_error`` says why)."""
    global _library, _library_error
    with _library_lock:
        if _library is None and not _library_error:
            try:
                _library = _Library(ctypes.util.find_library("nftables") or LIBRARY)
            except (OSError, AttributeError) as e:
                _library_error = str(e)
        return _library


def library_error() -> str:
    return _library_error


# -- the proxy's handle ---------------------------------------------------------------------

class Nft:
    """``backend``: "auto" (libnftables when it loads, else the tool), "library" or "tool"."""

    def __init__(self, netns: str | None = None, table: str = TABLE, backend: str = "auto") -> None:
        if backend not in ("auto", "library", "tool"):
            raise ValueError(f"unknown nft backend {backend!r}")
        self.netns = netns
        self.table = table
        self.last_duration = 0.0
        self._lib = library() if backend != "tool" else None
        if backend == "library" and self._lib is None:
            raise NftError(f"libnftables cannot be loaded: {library_error()}")

    @property
    def backend(self) -> str:
        return "library" if self._lib is not None else "tool"

    def _argv(self, *args: str) -> list[str]:
        nft = _tool("nft")
        if self.netns is None:
            return [nft, *args]
        path = netns_path(self.netns)
        if _same_netns(path):
            return [nft, *args]
        if not os.path.exists(path):
            raise NftError(f"network namespace {self.netns} does not exist")
        return [_tool("nsenter"), f"--net={path}", nft, *args]

    async def run(self, *args: str, script: str | None = None) -> str:
        """Run the nft tool with args (script on stdin); return stdout; raise NftError on failure."""
        proc = await asyncio.create_subprocess_exec(
            *self._argv(*args),
            stdin=asyncio.subprocess.PIPE if script is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await proc.communicate(script.encode() if script is not None else None)
        except BaseException:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        if proc.returncode != 0:
            raise NftError(f"nft {' '.join(args)} failed ({proc.returncode}): {_trim(err.decode(errors='replace'))}")
        return out.decode(errors="replace")

    async def _script(self, script: str, dry_run: bool = False) -> str:
        if self._lib is None:
            return await self.run(*(["-c"] if dry_run else []), "-f", "-", script=script)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._lib.worker, self._lib.run, self.netns, script, dry_run)

    async def apply(self, script: str) -> None:
        """Apply a script as one transaction."""
        if not script.strip():
            return
        start = time.monotonic()
        await self._script(script)
        self.last_duration = time.monotonic() - start

    async def check(self, script: str) -> None:
        """Validate a script against the kernel (``nft -c``) without applying it."""
        await self._script(script, dry_run=True)

    async def list_table(self) -> str:
        """The table as ``nft list table`` prints it ("" when it does not exist)."""
        try:
            return await self._script(f"list table {FAMILY} {self.table}\n")
        except NftError as e:
            if "No such file or directory" in str(e):
                return ""
            raise

    async def delete_table(self) -> None:
        """Remove the proxy's table; no error if it (or the namespace) is already gone."""
        if self.netns is not None and not os.path.exists(netns_path(self.netns)):
            return
        await self.apply(delete_table_script(self.table))


def _trim(text: str, limit: int = 4000) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + " ..."
