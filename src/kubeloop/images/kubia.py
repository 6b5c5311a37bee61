"""The book's `luksa/kubia` app: HTTP on :8080 answering "You've hit <hostname>".

`--unhealthy` is `luksa/kubia-unhealthy`: after five requests it answers 500 (for liveness
probes). `--port` changes the port. Written on bare asyncio (no framework) so that a pod
starts in tens of milliseconds and benchmarks measure the network, not the app.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys


class KubiaProtocol(asyncio.Protocol):
    requests = 0

    def __init__(self, body: bytes, unhealthy: bool) -> None:
        self.body = body
        self.unhealthy = unhealthy
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            length = 0
            keep_alive = True
            lines = head.split(b"\r\n")
            version = lines[0].rsplit(b" ", 1)[-1] if lines else b"HTTP/1.1"
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value.strip() or 0)
                elif name == b"connection":
                    keep_alive = value.strip().lower() != b"close"
            if version == b"HTTP/1.0":
                keep_alive = False
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            self.respond(keep_alive, head.startswith(b"HEAD "))

    def respond(self, keep_alive: bool, head_only: bool) -> None:
        assert self.transport is not None
        KubiaProtocol.requests += 1
        status, body = b"200 OK", self.body
        if self.unhealthy and KubiaProtocol.requests > 5:
            status, body = b"500 Internal Server Error", b"I'm not well. Please restart me!\n"
        headers = (b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\nContent-Length: "
                   + str(len(body)).encode() + (b"\r\n\r\n" if keep_alive else b"\r\nConnection: close\r\n\r\n"))
        self.transport.write(headers + (b"" if head_only else body))
        if not keep_alive:
            self.transport.close()


async def serve(port: int, unhealthy: bool) -> None:
    hostname = socket.gethostname()
    body = f"You've hit {hostname}\n".encode()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: KubiaProtocol(body, unhealthy), host="0.0.0.0", port=port,
                                      reuse_address=True, backlog=1024)
    print("Kubia server starting...", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubia")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--unhealthy", action="store_true")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.unhealthy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
