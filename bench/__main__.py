"""kubeloop benchmarks: `python -m bench [NAME ...]` (or `make bench`).

Each figure is printed beside a reference measured in the same run on the same machine, and
as a ratio, because absolute numbers on a shared 2-core machine mean little. Results go to
docs/performance.md by hand, with the date and the machine.

    startup     `kubeloop up --nodes 0` until the API answers, vs `python -c 'import kubeloop'`
                and vs a bare aiohttp app answering on a port (the floor for a Python server)
    api         creates/s of Services, list of 10,000 Services, watch delivery p50/p99 to 100
                watchers, idle RSS of the control plane
    pods        pod create -> Ready latency, RC scale 0 -> 100, memory per pod
    service     requests/s through a ClusterIP vs straight to a pod, keep-alive and a new
                connection per request (wrk, from a client pod)
    ingress     the ingress's nginx configuration vs a hand-written nginx reverse proxy, HTTP
                and HTTPS, keep-alive and new connections (wrk; see bench/ingress.py)

The service data plane's control path (full sync, programming latency) has its own runner:
`python -m kubeloop.proxy.bench`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent



IDLE_RSS_MB: list[int] = []


def _median_run(argv: list[str], ready: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            start = time.perf_counter()
            proc = subprocess.Popen([*argv] if "{d}" not in " ".join(argv) else [a.replace("{d}", d) for a in argv],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            assert proc.stdout is not None
            for line in proc.stdout:
                if ready in line:
                    break
            times.append(time.perf_counter() - start)
            time.sleep(0.5)
            status = Path(f"/proc/{proc.pid}/status").read_text()
            IDLE_RSS_MB.append(int(status.split("VmRSS:")[1].split()[0]) // 1024)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    return statistics.median(times)


BARE_SERVER = r"""
import asyncio, sys
from aiohttp import web
async def main():
    r = web.AppRunner(web.Application()); await r.setup()
    await web.TCPSite(r, "127.0.0.1", 0).start(); print("ready", flush=True); await asyncio.sleep(3600)
asyncio.run(main())
"""


def bench_startup() -> None:
    py = sys.executable
    up = _median_run([py, "-m", "kubeloop.cli", "--data-dir", "{d}", "up", "--port", "0", "--nodes", "0",
                      "--no-merge-kubeconfig"], "ready in")
    rss = statistics.median(IDLE_RSS_MB)
    imp = statistics.median(_time([py, "-c", "import kubeloop.cli"]) for _ in range(5))
    bare = _median_run([py, "-c", BARE_SERVER], "ready")
    print(f"startup: kubeloop up (control plane) {up * 1000:.0f} ms; import kubeloop {imp * 1000:.0f} ms; "
          f"bare aiohttp server {bare * 1000:.0f} ms; ratio up/bare {up / bare:.2f}; idle RSS of the control plane "
          f"{rss} MB")
    if os.geteuid() == 0:
        nodes = _median_run([py, "-m", "kubeloop.cli", "--data-dir", "{d}", "up", "--port", "0", "--nodes", "2",
                             "--no-merge-kubeconfig"], "ready in", runs=3)
        print(f"startup: kubeloop up with 2 nodes {nodes * 1000:.0f} ms")


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - start


async def _api() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from kubeloop.api.registry import by_plural
    from kubeloop.apiserver.server import APIServer, APIServerConfig
    from kubeloop.client.rest import Client

    with tempfile.TemporaryDirectory() as d:
        server = APIServer(APIServerConfig(port=0, authenticate=False, data_dir=Path(d)))
        await server.start()
        client = Client(server.url)
        services = by_plural("services")
        n = 10_000
        sem = asyncio.Semaphore(16)

        async def create(i: int) -> None:
            async with sem:
                await client.create(services, "default", {"metadata": {"name": f"s{i}"},
                                                          "spec": {"ports": [{"port": 80}]}})

        start = time.perf_counter()
        await asyncio.gather(*(create(i) for i in range(n)))
        elapsed = time.perf_counter() - start
        print(f"api: {n} Service creates in {elapsed:.1f} s = {n / elapsed:.0f}/s (SQLite, 16 in flight)")
        lists = []
        for _ in range(3):
            t = time.perf_counter()
            items, _ = await client.list(services, "default")
            lists.append(time.perf_counter() - t)
        print(f"api: list of {len(items)} Services {statistics.median(lists) * 1000:.0f} ms (median of 3)")

        watchers = 100
        seen: list[list[float]] = [[] for _ in range(watchers)]
        sent: dict[str, float] = {}
        _, rv = await client.list(by_plural("configmaps"), "default")

        async def watch(i: int) -> None:
            own = Client(server.url)  # one connection per watcher, as separate processes would have
            try:
                async for _type, obj in own.watch(by_plural("configmaps"), "default", resource_version=rv,
                                                  timeout_seconds=60):
                    name = obj["metadata"]["name"]
                    if name in sent:
                        seen[i].append(time.perf_counter() - sent[name])
                    if name == "done":
                        return
            finally:
                await own.close()

        tasks = [asyncio.create_task(watch(i)) for i in range(watchers)]
        await asyncio.sleep(1.0)
        for j in range(50):
            name = f"w{j}"
            sent[name] = time.perf_counter()
            await client.create(by_plural("configmaps"), "default", {"metadata": {"name": name}})
            await asyncio.sleep(0.02)
        sent["done"] = time.perf_counter()
        await client.create(by_plural("configmaps"), "default", {"metadata": {"name": "done"}})
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        delays = sorted(x for s in seen for x in s)
        p50, p99 = delays[len(delays) // 2], delays[int(len(delays) * 0.99)]
        print(f"api: watch delivery to {watchers} watchers p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
        await client.close()
        rss = int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) // 1024
        print(f"api: RSS of this process (API server + 10,000 Services + client) {rss} MB")
        await server.stop()


def bench_api() -> None:
    asyncio.run(_api())


async def _pods() -> None:
    """Pod create -> Ready over 50 kubia pods and an RC scaled 0 -> 100, on a 2-node kubeloop,
    beside the bare start of the same process outside kubeloop."""
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import start_cluster, stop_cluster

    from kubeloop.api.registry import by_plural
    from kubeloop.client.rest import Client

    # The reference: the kubia process itself, started on the host until it accepts a connection.
    bare = []
    for _ in range(5):
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "kubeloop.images.kubia", "--port", "18080"],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        proc.stdout.readline()
        bare.append(time.perf_counter() - t)
        proc.terminate()
        proc.wait()
    with tempfile.TemporaryDirectory() as d:
        cluster = start_cluster(Path(d), "--nodes", "2")
        client = Client.from_kubeconfig(cluster.kubeconfig)
        pods = by_plural("pods")
        try:
            latencies = []
            for i in range(50):
                # No readiness probe: Ready when the container has started (the pod startup SLO's
                # definition); a probe adds its period on top.
                body = {"metadata": {"name": f"bench-{i}"}, "spec": {"containers": [
                    {"name": "kubia", "image": "luksa/kubia"}]}}
                t = time.perf_counter()
                await client.create(pods, "default", body)
                while True:
                    pod = await client.get(pods, "default", f"bench-{i}")
                    if any(c["type"] == "Ready" and c["status"] == "True"
                           for c in (pod.get("status") or {}).get("conditions") or []):
                        break
                    await asyncio.sleep(0.01)
                latencies.append(time.perf_counter() - t)
            latencies.sort()
            p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
            print(f"pods: create -> Ready p50 {p50 * 1000:.0f} ms, "
                  f"p99 {p99 * 1000:.0f} ms; bare kubia start {statistics.median(bare) * 1000:.0f} ms")
            rss, pss = _pod_memory_kb()
            print(f"pods: memory per kubia pod (pause, nsenter and kubia processes): RSS {rss / 50 / 1024:.1f} MB, "
                  f"PSS {pss / 50 / 1024:.1f} MB (shared pages counted once)")
            for i in range(50):
                await client.delete(pods, "default", f"bench-{i}", gracePeriodSeconds=0)
            # An RC scaled 0 -> 100: time until all 100 pods are Ready.
            rcs = by_plural("replicationcontrollers")
            await client.create(rcs, "default", {"metadata": {"name": "scale"}, "spec": {
                "replicas": 0, "selector": {"app": "scale"}, "template": {
                    "metadata": {"labels": {"app": "scale"}},
                    "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia"}]}}}})
            t = time.perf_counter()
            await client.patch(rcs, "default", "scale", {"spec": {"replicas": 100}})
            while True:
                rc = await client.get(rcs, "default", "scale")
                if (rc.get("status") or {}).get("readyReplicas") == 100:
                    break
                await asyncio.sleep(0.05)
            print(f"pods: RC scaled 0 -> 100, all Ready in {time.perf_counter() - t:.1f} s")
            await client.delete(rcs, "default", "scale")
        finally:
            await client.close()
            stop_cluster(cluster)


def _pod_memory_kb() -> tuple[int, int]:
    """RSS and PSS (shared pages split among their users) summed over every process of the
    running pods: pause launchers, nsenter parents of containers, kubia."""
    rss = pss = 0
    for line in subprocess.run(["ps", "-eo", "pid,rss,args"], capture_output=True, text=True).stdout.splitlines():
        if not any(m in line for m in ("kubeloop.node.pause", "kubeloop.images.kubia", "nsenter --target=")):
            continue
        pid, kb = line.split()[:2]
        rss += int(kb)
        with contextlib.suppress(OSError):
            for field in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if field.startswith("Pss:"):
                    pss += int(field.split()[1])
    return rss, pss


def bench_pods() -> None:
    asyncio.run(_pods())


def _wrk(url: str, *, close: bool, seconds: int = 5, prefix: list[str] | None = None) -> float:
    argv = [*(prefix or []), "wrk", "-t2", "-c64", f"-d{seconds}s", url]
    if close:
        argv[len(prefix or []) + 1:len(prefix or []) + 1] = ["-H", "Connection: close"]
    out = subprocess.run(argv, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(f"wrk said: {out}")


@contextlib.contextmanager
def _client_pod(c: Any, index: int) -> Iterator[list[str]]:
    """A fresh client pod on node-2, for one round: its own address, ephemeral ports and
    TIME_WAIT table, so no round meets another's closed connections. Yields the argv prefix
    that runs a host program (wrk) in its network namespace, tuned as load generators are,
    the same for both paths: every port, and reuse of its own TIME_WAIT ports (it closes
    first; otherwise ~28,000 ports a minute is the ceiling)."""
    from kubeloop.node.sandbox import pod_netns_name

    name = f"client{index}"
    c.kubectl("run", name, "--image=busybox", "--overrides", '{"spec":{"nodeName":"node-2"}}',
              "--", "sleep", "infinity")
    try:
        c.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=30s")
        uid = c.kubectl("get", "pod", name, "-o", "jsonpath={.metadata.uid}").stdout
        inside = ["ip", "netns", "exec", pod_netns_name("kl", uid)]
        subprocess.run([*inside, "sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65535",
                        "net.ipv4.tcp_tw_reuse=1"], check=True, capture_output=True)
        yield inside
    finally:
        c.kubectl("delete", "pod", name, "--grace-period=0", "--force", check=False)


def bench_service() -> None:
    """Requests/s through a ClusterIP vs straight to a pod: two identical kubia pods on node-1
    (one reached directly, one behind the service, so the two paths use different addresses:
    see the PAWS note), load from a client pod on node-2, so both paths take the same hops
    and one of them goes through node-2's service rules. Keep-alive and a new connection per
    request; median of 3 interleaved rounds, each from a fresh client pod."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import start_cluster, stop_cluster

    with tempfile.TemporaryDirectory() as d:
        c = start_cluster(Path(d), "--nodes", "2")
        try:
            for name in ("direct", "behind"):
                c.kubectl("run", name, "--image=luksa/kubia", f"--labels=bench={name}",
                          "--overrides", '{"spec":{"nodeName":"node-1"}}')
            c.kubectl("expose", "pod", "behind", "--name", "bench", "--port", "80", "--target-port", "8080")
            c.kubectl("wait", "--for=condition=Ready", "pod/direct", "pod/behind", "--timeout=30s")
            direct_ip = c.kubectl("get", "pod", "direct", "-o", "jsonpath={.status.podIP}").stdout
            svc_ip = c.kubectl("get", "svc", "bench", "-o", "jsonpath={.spec.clusterIP}").stdout
            time.sleep(1)
            rounds = 0
            for close in (False, True):
                direct, service = [], []
                for _ in range(3):
                    for url, results in ((f"http://{direct_ip}:8080/", direct), (f"http://{svc_ip}/", service)):
                        rounds += 1
                        with _client_pod(c, rounds) as inside:
                            results.append(_wrk(url, close=close, seconds=5, prefix=inside))
                d_med, s_med = statistics.median(direct), statistics.median(service)
                mode = "new connection per request" if close else "keep-alive"
                print(f"service: {mode}: ClusterIP {s_med:.0f} req/s, direct to a pod {d_med:.0f} req/s, "
                      f"ratio {s_med / d_med:.2f} (rounds: ClusterIP {_rounded(service)}, direct {_rounded(direct)})")
        finally:
            stop_cluster(c)


def _rounded(values: list[float]) -> str:
    return " ".join(f"{v:.0f}" for v in values)


def main() -> None:
    from .ingress import bench_ingress

    benches = {"startup": bench_startup, "api": bench_api, "pods": bench_pods, "service": bench_service,
               "ingress": bench_ingress}
    names = sys.argv[1:] or ["startup", "api", "pods"]
    unknown = [n for n in names if n not in benches]
    if unknown:
        raise SystemExit(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(benches)}")
    for name in names:
        benches[name]()


if __name__ == "__main__":
    main()
