"""`kubeloop up | down | status | kubeconfig`: the user's entry point.

`up` runs the cluster in the foreground (Ctrl-C or `kubeloop down` stops it cleanly), writes
a pid file and the kubeconfig into the data directory and merges the `kubeloop` context into
the user's kubeconfig. `down` stops a running `up` and removes what it left.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .cluster.supervisor import CONTEXT, Cluster, ClusterConfig, default_data_dir


def _say(text: str) -> None:
    print(f"kubeloop: {text}", flush=True)


def _pid_file(data_dir: Path) -> Path:
    return data_dir / "kubeloop.pid"


def _running_pid(data_dir: Path) -> int | None:
    try:
        pid = int(_pid_file(data_dir).read_text().strip())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


async def _run_up(config: ClusterConfig) -> int:
    started = time.monotonic()
    cluster = Cluster(config, say=_say)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await cluster.start()
    except (OSError, RuntimeError) as e:
        _say(f"cannot start: {e}")
        return 1
    _pid_file(config.data_dir).write_text(str(os.getpid()))
    _say(f"ready in {time.monotonic() - started:.2f}s")
    _say(f"kubeconfig: {cluster.kubeconfig_path}")
    ctx = f" --context {CONTEXT}" if config.merge_kubeconfig else f" --kubeconfig {cluster.kubeconfig_path}"
    print(f"\nTry:\n  kubectl{ctx} get nodes,namespaces\n  kubectl{ctx} get svc -A\n"
          f"Stop with Ctrl-C or `kubeloop down`.\n", flush=True)
    try:
        await stop.wait()
    finally:
        _say("stopping")
        await cluster.stop()
        with contextlib.suppress(FileNotFoundError):
            _pid_file(config.data_dir).unlink()
        _say("stopped")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    pid = _running_pid(data_dir)
    if pid is not None:
        _say(f"already running (pid {pid}); `kubeloop down` stops it")
        return 1
    config = ClusterConfig(
        data_dir=data_dir,
        host=args.host,
        port=args.port,
        service_cidr=args.service_cidr,
        merge_kubeconfig=not args.no_merge_kubeconfig,
        memory=args.memory,
        watch_history=args.watch_history,
        nodes=args.nodes,
        node_monitor_grace=args.node_monitor_grace_period,
        dns_upstreams=args.dns_upstream or [],
    )
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(_run_up(config))


def cmd_down(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    pid = _running_pid(data_dir)
    if pid is None:
        _say("not running")
        from .cluster import kubeconfig

        with contextlib.suppress(Exception):
            kubeconfig.remove_from_user_config(CONTEXT)
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            _say("stopped")
            return 0
        time.sleep(0.05)
    _say(f"pid {pid} did not stop within 30s")
    return 1


def cmd_node(args: argparse.Namespace) -> int:
    from .cluster.control import call

    data_dir = Path(args.data_dir)
    if _running_pid(data_dir) is None:
        _say("not running")
        return 1
    answer = call(data_dir / "control.sock", {"op": f"node-{args.action}", "name": args.name})
    if not answer.get("ok"):
        _say(str(answer.get("error")))
        return 1
    _say(f"node {args.name} {'stopped' if args.action == 'stop' else 'started'}")
    return 0


def cmd_hosts(args: argparse.Namespace) -> int:
    """Print (or add to /etc/hosts) lines mapping every Ingress host to the ingress address."""
    import asyncio as aio

    from .api.registry import by_plural
    from .client.rest import Client
    from .ingress import hosts_lines

    path = Path(args.data_dir) / "kubeconfig"
    if _running_pid(Path(args.data_dir)) is None or not path.exists():
        _say("not running")
        return 1

    async def fetch() -> list[str]:
        client = Client.from_kubeconfig(path)
        try:
            ingresses, _ = await client.list(by_plural("ingresses"))
            svc = await client.get(by_plural("services"), "kube-system", "ingress-nginx-controller")
        finally:
            await client.close()
        address = next((i.get("ip") for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress")
                        or [] if i.get("ip")), None)
        return hosts_lines(ingresses, address) if address else []

    lines = aio.run(fetch())
    if not lines:
        _say("no ingress hosts (or the ingress has no address yet)")
        return 1
    if not args.apply:
        print("\n".join(lines))
        return 0
    hosts = Path("/etc/hosts")
    marker = "# kubeloop ingress"
    kept = [line for line in hosts.read_text().splitlines() if not line.endswith(marker)]
    hosts.write_text("\n".join(kept + [f"{line}  {marker}" for line in lines if not line.startswith("#")]) + "\n")
    _say(f"{len(lines)} line(s) written to /etc/hosts, each marked \"{marker}\" (delete those to undo)")
    return 0


def _proxy_health(address: str, port: int = 10256) -> str:
    """What the node's service proxy says of itself on :10256/healthz (kube-proxy's port)."""
    try:
        # No proxy from the environment: the node is on kubeloop's own network.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://{address}:{port}/healthz", timeout=2):
            return "proxy rules in sync"
    except urllib.error.HTTPError as e:  # 503: its last sync failed
        try:
            error = json.loads(e.read() or b"{}").get("error", "")
        except ValueError:
            error = ""
        return f"proxy failing: {error}" if error else f"proxy unhealthy ({e.code})"
    except OSError as e:
        return f"proxy unreachable ({e})"


def cmd_status(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    pid = _running_pid(data_dir)
    if pid is None:
        print("kubeloop is not running")
        return 3
    from .cluster import kubeconfig

    cfg = kubeconfig.load(data_dir / "kubeconfig")
    server = cfg["clusters"][0]["cluster"]["server"]
    ctx = ssl.create_default_context(cafile=str(data_dir / "pki" / "ca.crt"))
    try:
        with urllib.request.urlopen(f"{server}/readyz", context=ctx, timeout=2) as r:
            ready = r.read().decode().strip()
        with urllib.request.urlopen(f"{server}/version", context=ctx, timeout=2) as r:
            version = json.loads(r.read())["gitVersion"]
    except OSError as e:
        ready, version = f"unreachable ({e})", "?"
    print(f"kubeloop is running (pid {pid})")
    print(f"  API server  {server}  {ready}  Kubernetes {version}")
    from .cluster.control import call

    try:
        info = call(data_dir / "control.sock", {"op": "status"}, timeout=5)
    except OSError as e:
        info = {"ok": False, "error": str(e)}
    if info.get("ok"):
        if info.get("network"):
            print(f"  network     {info['network']} (nodes), pods {info['podCIDR']}, services {info['serviceCIDR']}, "
                  f"DNS {info['dns']}")
        for name, node in sorted(dict(info.get("nodes") or {}).items()):
            state = f"agent running, {_proxy_health(node['address'])}" if node["running"] else "agent stopped"
            print(f"  node        {name}  {node['address']}  pods {node['podCIDR']}  {state}")
    print(f"  kubeconfig  {data_dir / 'kubeconfig'} (context {CONTEXT})")
    print(f"  data        {data_dir}")
    return 0


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    path = Path(args.data_dir) / "kubeconfig"
    if not path.exists():
        print("no kubeconfig yet: run `kubeloop up` first", file=sys.stderr)
        return 1
    if args.path:
        print(path)
    else:
        sys.stdout.write(path.read_text())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubeloop", description="A Kubernetes cluster for one Linux machine.")
    parser.add_argument("--data-dir", default=str(default_data_dir()), help="state, certificates, kubeconfig")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the cluster in the foreground")
    up.add_argument("--host", default="127.0.0.1", help="API server address (default 127.0.0.1)")
    up.add_argument("--port", type=int, default=6443, help="API server port (default 6443; 0 picks a free one)")
    up.add_argument("--service-cidr", default="10.96.0.0/12")
    up.add_argument("--nodes", type=int, default=2, help="number of nodes (default 2; 0: control plane only)")
    up.add_argument("--node-monitor-grace-period", type=float, default=40.0,
                    help="seconds without a node heartbeat before the node is marked NotReady (default 40)")
    up.add_argument("--dns-upstream", action="append", metavar="ADDR[:PORT]",
                    help="where cluster DNS forwards other names (repeatable; default: the host's resolv.conf)")
    up.add_argument("--memory", action="store_true", help="keep state in memory only")
    up.add_argument("--watch-history", type=int, default=20_000,
                    help="events kept for watches to resume from (older resourceVersions get 410 Gone)")
    up.add_argument("--no-merge-kubeconfig", action="store_true",
                    help="do not touch ~/.kube/config; use the kubeconfig in the data directory")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop a running cluster").set_defaults(func=cmd_down)
    node = sub.add_parser("node", help="stop or start a node (to watch the cluster cope)")
    node.add_argument("action", choices=["stop", "start"])
    node.add_argument("name")
    node.set_defaults(func=cmd_node)
    sub.add_parser("status", help="show what is running").set_defaults(func=cmd_status)
    hosts = sub.add_parser("hosts", help="print /etc/hosts lines for every Ingress host (--apply writes them)")
    hosts.add_argument("--apply", action="store_true", help="add the lines to /etc/hosts (marked, replaced each time)")
    hosts.set_defaults(func=cmd_hosts)
    kc = sub.add_parser("kubeconfig", help="print the cluster's kubeconfig")
    kc.add_argument("--path", action="store_true", help="print its path instead")
    kc.set_defaults(func=cmd_kubeconfig)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
