"""Benchmark of the service proxy's control path: ``python -m kubeloop.proxy.bench``.

In a throwaway network namespace (created and removed here; needs root) it measures, for N
services x E endpoints: building the desired state (time, Python memory), the first full sync
(table replaced) and a periodic resync, the cost of single-endpoint updates applied
incrementally, and with ``--api`` the network programming latency of a real ``Proxier``
(in-process API server, EndpointSlice writes -> rules live). Prints one JSON object.

It sends no traffic and touches no namespace but its own.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import statistics
import time
import tracemalloc
from typing import Any

from .model import EndpointInfo, ServicePortInfo
from .nft import Nft
from .rules import GLOBAL, RenderConfig, RuleState, gc_paused, global_fragment, service_fragment


def _port(i: int) -> ServicePortInfo:
    return ServicePortInfo("default", f"svc{i}", "http", "TCP", f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}", 80)


def _eps(i: int, n: int, gen: int = 0) -> list[EndpointInfo]:
    base = (i * n + gen * 7919) % (1 << 20)
    return [EndpointInfo(f"10.{128 + (base + j) // 65536 % 64}.{(base + j) // 256 % 256}.{(base + j) % 256}", 8080,
                         node_name="n1") for j in range(n)]


def _q(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))] * 1000 if values else 0.0


async def _run(cmd: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(*cmd)
    if await proc.wait() != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")


async def bench_rules(netns: str, services: int, endpoints: int, changes: int,
                      backend: str = "auto") -> dict[str, Any]:
    cfg = RenderConfig(node_name="n1", node_ips=("172.30.0.11",), cluster_cidr="10.244.0.0/16")
    nft = Nft(netns, backend=backend)

    def build_state() -> RuleState:
        # As the proxier's first sync does: no incremental script (a full one follows).
        with gc_paused():
            state = RuleState(cfg)
            ups: dict[str, Any] = {GLOBAL: global_fragment(cfg)}
            for i in range(services):
                p = _port(i)
                ups[p.key] = service_fragment(p, _eps(i, endpoints), cfg)
            state.update(ups, render=False)
        return state

    gc.collect()
    tracemalloc.start()
    kept = build_state()
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    gc.collect()
    t = time.perf_counter()
    state = build_state()
    build = time.perf_counter() - t
    t = time.perf_counter()
    with gc_paused():
        script = state.full_script(recreate=True)
    render = time.perf_counter() - t
    t = time.perf_counter()
    await nft.apply(script)
    first = time.perf_counter() - t
    state.commit(full=True)
    t = time.perf_counter()
    with gc_paused():
        resync_script = state.full_script()
    resync_render = time.perf_counter() - t
    t = time.perf_counter()
    await nft.apply(resync_script)
    resync = time.perf_counter() - t
    state.commit(full=True)
    times = []
    for k in range(changes):
        i = (k * 7919) % services
        p = _port(i)
        t = time.perf_counter()
        inc = state.update({p.key: service_fragment(p, _eps(i, endpoints, k + 1), cfg)})
        await nft.apply(inc)
        times.append(time.perf_counter() - t)
        state.commit()
    return {
        "services": services, "endpoints_per_service": endpoints,
        "chains": len(state.chains()), "script_lines": script.count("\n"), "script_mb": round(len(script) / 1e6, 1),
        "build_s": round(build, 3), "state_mb": round(memory / 1e6, 1), "render_s": round(render, 3),
        "first_full_sync_s": round(first, 3), "resync_s": round(resync, 3),
        "first_full_sync_total_s": round(build + render + first, 3), "resync_total_s": round(resync_render + resync, 3),
        "nft_backend": nft.backend,
        "update_p50_ms": round(_q(times, 0.5), 1), "update_p99_ms": round(_q(times, 0.99), 1),
        "update_mean_ms": round(statistics.mean(times) * 1000, 1) if times else 0.0,
    }


async def bench_proxier(netns: str, services: int, endpoints: int, changes: int,
                        backend: str = "auto") -> dict[str, Any]:
    from kubeloop.api.registry import by_plural
    from kubeloop.apiserver.server import APIServer, APIServerConfig
    from kubeloop.client.rest import Client

    from .proxier import Proxier

    server = APIServer(APIServerConfig(port=0, authenticate=False))
    await server.start()
    client = Client(server.url)
    svcs, slices = by_plural("services"), by_plural("endpointslices")
    proxier = None
    try:
        sem = asyncio.Semaphore(32)

        async def make(i: int) -> None:
            async with sem:
                await client.create(svcs, "default", {"apiVersion": "v1", "kind": "Service",
                                                      "metadata": {"name": f"svc{i}"},
                                                      "spec": {"ports": [{"name": "http", "port": 80}]}})
                await client.create(slices, "default", _slice(i, _eps(i, endpoints)))
        await asyncio.gather(*(make(i) for i in range(services)))
        proxier = Proxier(client, node_name="n1", node_ips=["172.30.0.11"], netns=netns,
                          cluster_cidr_for_masquerade="10.244.0.0/16", nft=Nft(netns, backend=backend))
        t = time.perf_counter()
        await proxier.start(timeout=120)
        start = time.perf_counter() - t
        for k in range(changes):
            i = (k * 7919) % services
            current = await client.get(slices, "default", f"svc{i}-1")
            current["endpoints"] = _slice(i, _eps(i, endpoints, k + 1))["endpoints"]
            await client.update(slices, current)
            await asyncio.sleep(0.1)
        await proxier.wait_idle(timeout=60)
        summary = proxier.latency_summary()
        return {"proxier_start_s": round(start, 3), "latency": {k: v for k, v in summary.items() if k != "buckets"}}
    finally:
        if proxier is not None:
            await proxier.stop()
        await client.close()
        await server.stop()


def _slice(i: int, eps: list[EndpointInfo]) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": f"svc{i}-1", "labels": {"kubernetes.io/service-name": f"svc{i}"}},
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [e.ip], "conditions": {"ready": True}, "nodeName": "n1"} for e in eps]}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    if os.geteuid() != 0:
        raise SystemExit("kubeloop.proxy.bench needs root (it creates a network namespace)")
    netns = f"klbench-{secrets.token_hex(3)}"
    await _run(["ip", "netns", "add", netns])
    try:
        out = await bench_rules(netns, args.services, args.endpoints, args.changes, args.backend)
        if args.api:
            await Nft(netns).delete_table()
            out.update(await bench_proxier(netns, args.services, args.endpoints, args.changes, args.backend))
        return out
    finally:
        await _run(["ip", "netns", "delete", netns])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m kubeloop.proxy.bench")
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--api", action="store_true", help="also measure a real Proxier's programming latency")
    parser.add_argument("--backend", choices=("auto", "library", "tool"), default="auto",
                        help="how nft is run: libnftables (auto: when it loads) or the nft tool")
    print(json.dumps(asyncio.run(main_async(parser.parse_args()))))


if __name__ == "__main__":
    main()
