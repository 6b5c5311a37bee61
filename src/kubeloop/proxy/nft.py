"""Running ``nft`` for the proxy: one script, one atomic transaction, in a chosen namespace.

``Nft(netns)`` runs ``nft -f -`` inside network namespace ``netns`` (a name in /run/netns)
through ``nsenter --net=...``, or directly when ``netns`` is None (the current namespace, e.g.
the host) or when this process already is in that namespace. An ``nft -f`` script is one
netlink batch: it applies entirely or not at all. ``delete_table`` removes the proxy's table
and nothing else.

It owns the nft processes only: it renders nothing (see ``rules``) and never touches a table
other than the one named in the scripts it is given. asyncio subprocesses only.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time

from .rules import FAMILY, TABLE, delete_table_script

NETNS_DIR = "/run/netns"


class NftError(RuntimeError):
    """nft refused a script; the message carries nft's error output."""


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not found:
        raise NftError(f"{name} is not installed")
    return found


def _same_netns(path: str) -> bool:
    try:
        a, b = os.stat("/proc/self/ns/net"), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class Nft:
    def __init__(self, netns: str | None = None, table: str = TABLE) -> None:
        self.netns = netns
        self.table = table
        self.last_duration = 0.0

    def _argv(self, *args: str) -> list[str]:
        nft = _tool("nft")
        if self.netns is None:
            return [nft, *args]
        path = self.netns if self.netns.startswith("/") else f"{NETNS_DIR}/{self.netns}"
        if _same_netns(path):
            return [nft, *args]
        if not os.path.exists(path):
            raise NftError(f"network namespace {self.netns} does not exist")
        return [_tool("nsenter"), f"--net={path}", nft, *args]

    async def run(self, *args: str, script: str | None = None) -> str:
        """Run nft with args (script on stdin); return stdout; raise NftError on failure."""
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

    async def apply(self, script: str) -> None:
        """Apply a script as one transaction."""
        if not script.strip():
            return
        start = time.monotonic()
        await self.run("-f", "-", script=script)
        self.last_duration = time.monotonic() - start

    async def check(self, script: str) -> None:
        """Validate a script against the kernel (``nft -c``) without applying it."""
        await self.run("-c", "-f", "-", script=script)

    async def list_table(self) -> str:
        """The table as ``nft list table`` prints it ("" when it does not exist)."""
        try:
            return await self.run("list", "table", FAMILY, self.table)
        except NftError as e:
            if "No such file or directory" in str(e):
                return ""
            raise

    async def delete_table(self) -> None:
        """Remove the proxy's table; no error if it (or the namespace) is already gone."""
        if self.netns is not None:
            path = self.netns if self.netns.startswith("/") else f"{NETNS_DIR}/{self.netns}"
            if not os.path.exists(path):
                return
        await self.apply(delete_table_script(self.table))


def _trim(text: str, limit: int = 4000) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + " ..."
