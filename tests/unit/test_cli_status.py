"""`kubeloop status` reports each node's service proxy from its /healthz (kubeloop.cli)."""

from __future__ import annotations

import http.server
import json
import threading

from kubeloop.cli import _proxy_health


def serve(code: int, body: dict) -> tuple[http.server.HTTPServer, int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def test_proxy_health_in_sync_failing_and_unreachable() -> None:
    ok, ok_port = serve(200, {"lastUpdated": "x", "currentTime": "y"})
    bad, bad_port = serve(503, {"lastUpdated": "x", "currentTime": "y", "error": "nft said no"})
    try:
        assert _proxy_health("127.0.0.1", ok_port) == "proxy rules in sync"
        assert _proxy_health("127.0.0.1", bad_port) == "proxy failing: nft said no"
    finally:
        for server in (ok, bad):
            server.shutdown()
            server.server_close()
    assert _proxy_health("127.0.0.1", ok_port).startswith("proxy unreachable")
