"""ClusterDNS against a real (in-process) API server, queried with the real dig on loopback.

Covers S6 (service names, the coredns ConfigMap), S8 (headless: one record per ready pod), S9
(not-ready pods with publishNotReadyAddresses or the tolerate-unready annotation), E3 (CNAME,
SRV, PTR), live Corefile edits, forwarding to an upstream the test starts on 127.0.0.1, and
SERVFAIL before the caches have synced. All traffic stays on loopback.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time

import dns.flags
import dns.rcode
import pytest

from conftest import require
from kubeloop.api.registry import by_plural
from kubeloop.apiserver.server import APIServer, APIServerConfig
from kubeloop.client.rest import Client
from kubeloop.dns import ClusterDNS
from kubeloop.dns.testing import StaticUpstream, dig, query

SVC, EPS, CM, EV = (by_plural(p) for p in ("services", "endpointslices", "configmaps", "events"))


@pytest.fixture(autouse=True)
def _dig_installed():
    require(shutil.which("dig") is not None, "dig (dnsutils) is not installed")


@pytest.fixture
async def api():
    server = APIServer(APIServerConfig(port=0, authenticate=False))
    await server.start()
    client = Client(server.url)
    yield client
    await client.close()
    await server.stop()


@pytest.fixture
async def upstream():
    u = StaticUpstream({("www.example.com", "A"): [(300, "192.0.2.53")],
                        ("www.example.com", "AAAA"): [(300, "2001:db8::53")],
                        ("short.example.com", "A"): [(2, "192.0.2.2")],
                        ("big.example.com", "TXT"): [(60, f'"{i}' + "x" * 240 + '"') for i in range(8)]})
    await u.start()
    yield u
    await u.stop()


@pytest.fixture
async def cdns(api, upstream, tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {upstream.host}\n")  # never the machine's own resolver
    d = ClusterDNS(api, listen=[("127.0.0.1", 0)], upstreams=[upstream.address], resolv_conf=str(resolv),
                   forward_timeout=0.5)
    await d.start()
    await d.wait_ready(10)
    yield d
    await d.stop()


def port_of(d: ClusterDNS) -> int:
    return d.bound_addresses[0][1]


async def adig(d: ClusterDNS, *args: str) -> str:
    return await asyncio.to_thread(dig, port_of(d), *args)


async def ask(d: ClusterDNS, name: str, rtype: str = "A", **kw):
    return await asyncio.to_thread(query, ("127.0.0.1", port_of(d)), name, rtype, **kw)


def service(name: str, ns: str = "default", *, headless: bool = False, ports=(("http", 80),), **spec) -> dict:
    s = {"ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports], "selector": {"app": name}, **spec}
    if headless:
        s["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": s}


def endpoint_slice(svc: str, endpoints: list[tuple[str, bool]], ns: str = "default", name: str = "",
                   hostnames: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{svc}-abcde", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready},
                           **({"hostname": hostnames[ip]} if hostnames and ip in hostnames else {}),
                           "targetRef": {"kind": "Pod", "name": f"{svc}-{ip.replace('.', '-')}", "namespace": ns}}
                          for ip, ready in endpoints]}


async def until(fn, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = await fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def answers(out: str) -> list[str]:
    """The data column of dig's ANSWER section."""
    section = out.split(";; ANSWER SECTION:\n", 1)
    if len(section) < 2:
        return []
    return [line.split(None, 4)[4] for line in section[1].split("\n\n", 1)[0].splitlines() if line.strip()]


def status(out: str) -> str:
    m = re.search(r"status: (\w+)", out)
    return m.group(1) if m else ""


# -- S6: service names, the ConfigMap ---------------------------------------------------------

async def test_service_records_and_the_coredns_configmap(api, cdns):
    svc = await api.create(SVC, "default", service("kubia", ports=(("http", 80), ("https", 443))))
    ip = svc["spec"]["clusterIP"]
    name = "kubia.default.svc.cluster.local"
    assert await until(lambda: adig(cdns, name, "+short"), what="A record") == ip + "\n"
    out = await adig(cdns, name)
    assert status(out) == "NOERROR" and " aa " in out.split("flags:", 1)[1].split(";", 1)[0] + " "
    assert re.search(rf"^{re.escape(name)}\.\s+30\s+IN\s+A\s+{re.escape(ip)}$", out, re.M)  # kind's `ttl 30`
    assert answers(await adig(cdns, name, "+tcp")) == [ip]
    assert answers(await adig(cdns, "KUBIA.Default.SVC.cluster.local")) == [ip]
    assert answers(await adig(cdns, "_https._tcp." + name, "SRV")) == [f"0 100 443 {name}."]
    assert answers(await adig(cdns, "-x", ip)) == [f"{name}."]
    assert answers(await adig(cdns, "dns-version.cluster.local", "TXT")) == ['"1.1.0"']
    nx = await adig(cdns, "nosuch.default.svc.cluster.local")
    assert status(nx) == "NXDOMAIN" and "SOA\tns.dns.cluster.local. hostmaster.cluster.local." in nx
    nodata = await adig(cdns, name, "AAAA")
    assert status(nodata) == "NOERROR" and answers(nodata) == [] and "SOA" in nodata
    assert status(await adig(cdns, "default.svc.cluster.local")) == "NOERROR"
    assert answers(await adig(cdns, "10-244-1-5.default.pod.cluster.local")) == ["10.244.1.5"]
    # the configuration lives where kind keeps it, readable (and editable) with kubectl
    cm = await api.get(CM, "kube-system", "coredns")
    assert "kubernetes cluster.local in-addr.arpa ip6.arpa" in cm["data"]["Corefile"]
    # nslookup, as a user inside a pod would type it
    if shutil.which("nslookup"):
        proc = await asyncio.create_subprocess_exec("nslookup", f"-port={port_of(cdns)}", name, "127.0.0.1",
                                                    stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
        assert f"Address: {ip}" in out.decode()


# -- S8 / S9: headless services ---------------------------------------------------------------

async def test_headless_service_answers_one_record_per_ready_pod_and_follows_changes(api, cdns):
    await api.create(SVC, "default", service("kubia-headless", headless=True))
    name = "kubia-headless.default.svc.cluster.local"
    assert status(await adig(cdns, name)) == "NXDOMAIN"  # no ready endpoints yet (spec 2.4.1)
    s = await api.create(EPS, "default", endpoint_slice("kubia-headless", [("10.244.1.5", True), ("10.244.1.6", True),
                                                                          ("10.244.2.7", False)],
                                                        hostnames={"10.244.1.5": "web-0"}))
    got = await until(lambda: adig(cdns, name, "+short"), what="headless answers")
    assert sorted(got.split()) == ["10.244.1.5", "10.244.1.6"]
    assert answers(await adig(cdns, "web-0." + name)) == ["10.244.1.5"]
    assert answers(await adig(cdns, "10-244-1-6." + name)) == ["10.244.1.6"]
    assert sorted(answers(await adig(cdns, "_http._tcp." + name, "SRV"))) == [
        f"0 50 8080 10-244-1-6.{name}.", f"0 50 8080 web-0.{name}."]
    assert answers(await adig(cdns, "-x", "10.244.1.5")) == [f"web-0.{name}."]
    # readiness flips: the answer changes within milliseconds of the watch event
    s["endpoints"][2]["conditions"]["ready"] = True
    start = time.monotonic()
    await api.update(EPS, s)
    took = None
    while time.monotonic() - start < 5:
        m = await ask(cdns, name)
        if m.answer and len(m.answer[0]) == 3:
            took = time.monotonic() - start
            break
    assert took is not None and took < 0.5, took
    print(f"endpoint change visible in DNS {took * 1000:.1f} ms after the API write returned")
    await api.delete(EPS, "default", s["metadata"]["name"])
    await until(lambda: _status_is(cdns, name, "NXDOMAIN"), what="NXDOMAIN after the slice is gone")


async def _status_is(d: ClusterDNS, name: str, want: str) -> bool:
    return status(await adig(d, name)) == want


@pytest.mark.parametrize("how", ["publishNotReadyAddresses", "annotation"])
async def test_not_ready_pods_are_published_when_the_service_asks(api, cdns, how):
    svc = service("kubia-all", headless=True)
    if how == "publishNotReadyAddresses":
        svc["spec"]["publishNotReadyAddresses"] = True
    else:
        svc["metadata"]["annotations"] = {"service.alpha.kubernetes.io/tolerate-unready-endpoints": "true"}
    await api.create(SVC, "default", svc)
    await api.create(EPS, "default", endpoint_slice("kubia-all", [("10.244.1.5", True), ("10.244.2.7", False)]))
    got = await until(lambda: adig(cdns, "kubia-all.default.svc.cluster.local", "+short"), what="answers")
    assert sorted(got.split()) == ["10.244.1.5", "10.244.2.7"]


async def test_many_endpoints_truncate_over_udp_and_come_whole_over_tcp(api, cdns):
    await api.create(SVC, "default", service("big", headless=True))
    ips = [f"10.244.{i // 200}.{i % 200 + 1}" for i in range(150)]
    await api.create(EPS, "default", endpoint_slice("big", [(ip, True) for ip in ips]))
    name = "big.default.svc.cluster.local"
    await until(lambda: _status_is(cdns, name, "NOERROR"), what="records")
    out = await adig(cdns, name, "+ignore", "+bufsize=512")
    assert re.search(r"flags:[^;]* tc", out) and 0 < len(answers(out)) < 150
    out = await adig(cdns, name, "+ignore", "+noedns")
    assert re.search(r"flags:[^;]* tc", out) and "EDNS" not in out
    assert sorted(answers(await adig(cdns, name)), key=lambda a: tuple(map(int, a.split(".")))) == ips  # dig retries over TCP
    assert len(answers(await adig(cdns, name, "+tcp"))) == 150


# -- E3: ExternalName, forwarding -------------------------------------------------------------

async def test_external_name_is_a_cname_chased_through_the_upstream(api, cdns, upstream):
    await api.create(SVC, "default", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                                      "spec": {"type": "ExternalName", "externalName": "www.example.com"}})
    name = "ext.default.svc.cluster.local"
    await until(lambda: _status_is(cdns, name, "NOERROR"), what="CNAME")
    assert answers(await adig(cdns, name, "CNAME")) == ["www.example.com."]
    assert answers(await adig(cdns, name)) == ["www.example.com.", "192.0.2.53"]
    assert answers(await adig(cdns, name, "AAAA")) == ["www.example.com.", "2001:db8::53"]


async def test_names_outside_the_cluster_are_forwarded_and_cached(cdns, upstream):
    assert answers(await adig(cdns, "www.example.com")) == ["192.0.2.53"]
    asked = len(upstream.queries)
    m = await ask(cdns, "WWW.example.com")
    assert m.answer[0][0].address == "192.0.2.53" and not m.flags & dns.flags.AA
    assert len(upstream.queries) == asked  # `cache 30` answered it
    assert m.answer[0].ttl <= 30  # capped by the cache directive
    assert status(await adig(cdns, "nosuch.example.com")) == "NXDOMAIN"
    # an answer bigger than the upstream's UDP size: it truncates, the forwarder retries over TCP
    m = await ask(cdns, "big.example.com", "TXT", tcp=True)
    assert len(m.answer[0]) == 8
    assert ("big.example.com.", "TXT", "tcp") in upstream.queries
    # TTLs count down in the cache (expiry is tested with a fake clock in the unit tests)
    first = (await ask(cdns, "www.example.com")).answer[0].ttl
    n = len(upstream.queries)
    await asyncio.sleep(1.1)
    m = await ask(cdns, "www.example.com")
    assert m.answer[0].ttl < first and len(upstream.queries) == n


async def test_a_silent_upstream_gives_servfail_quickly(api, cdns):
    silent = StaticUpstream(silent=True)
    await silent.start()
    try:
        await _edit_corefile(api, lambda text: re.sub(r"forward \. \S+", f"forward . {silent.address}", text))
        await until(lambda: _forwards_to(cdns, silent.port), what="the new Corefile")
        start = time.monotonic()
        m = await ask(cdns, "www.example.org", timeout=5)
        assert m.rcode() == dns.rcode.SERVFAIL and time.monotonic() - start < 3
        assert silent.queries and silent.queries[0][0] == "www.example.org."
        # cluster names do not depend on the upstream
        assert (await ask(cdns, "dns-version.cluster.local", "TXT")).rcode() == dns.rcode.NOERROR
    finally:
        await silent.stop()


async def _forwards_to(d: ClusterDNS, port: int) -> bool:
    cf = d.corefile
    return bool(cf and cf.blocks[0].forward and cf.blocks[0].forward.to == [("127.0.0.1", port)])


# -- Corefile edits ---------------------------------------------------------------------------

async def _edit_corefile(api: Client, change) -> None:
    cm = await api.get(CM, "kube-system", "coredns")
    cm["data"]["Corefile"] = change(cm["data"]["Corefile"])
    await api.update(CM, cm)


async def test_corefile_edits_apply_live_without_dropping_queries(api, cdns, upstream):
    for i in range(300):  # enough services that a rebuild takes a few loop turns
        await api.create(SVC, "default", service(f"s{i}"))
    await until(lambda: _has_ttl(cdns, "s299.default.svc.cluster.local", 30), what="300 services")
    stop = asyncio.Event()
    bad: list[str] = []
    count = 0

    async def hammer() -> None:
        nonlocal count
        while not stop.is_set():
            try:
                m = await ask(cdns, "kubia-probe.default.svc.cluster.local" if count % 2 else "s7.default.svc.cluster.local",
                              timeout=1)
                if count % 2 == 0 and (m.rcode() != 0 or not m.answer):
                    bad.append(str(m))
            except Exception as e:  # a timeout is a dropped query
                bad.append(repr(e))
            count += 1

    task = asyncio.create_task(hammer())
    try:
        await _edit_corefile(api, lambda t: t.replace("ttl 30", "ttl 7").replace(
            "    prometheus :9153", "    hosts {\n       10.1.2.3 db.corp.internal\n       fallthrough\n    }\n"
                                    "    prometheus :9153"))
        await until(lambda: _has_ttl(cdns, "s7.default.svc.cluster.local", 7), what="ttl 7")
        assert answers(await adig(cdns, "db.corp.internal")) == ["10.1.2.3"]
        assert answers(await adig(cdns, "-x", "10.1.2.3")) == ["db.corp.internal."]
        assert answers(await adig(cdns, "www.example.com")) == ["192.0.2.53"]  # hosts falls through
    finally:
        stop.set()
        await task
    assert count > 20 and bad == [], bad[:3]


async def _has_ttl(d: ClusterDNS, name: str, ttl: int) -> bool:
    m = await ask(d, name)
    return bool(m.answer) and m.answer[0].ttl == ttl


async def test_unsupported_directives_and_broken_corefiles_become_events(api, cdns):
    await _edit_corefile(api, lambda t: t.replace("    loop\n", "    loop\n    rewrite name foo.example bar.example\n"
                                                                 "    log\n"))

    async def events(reason: str) -> list[dict]:
        items, _ = await api.list(EV, "kube-system")
        return [e for e in items if e["reason"] == reason and e["involvedObject"]["name"] == "coredns"]

    ev = await until(lambda: events("UnsupportedCorefile"), what="an Event")
    assert "rewrite" in ev[0]["message"] and ev[0]["type"] == "Warning"
    assert cdns.server.log_queries  # `log` is honoured
    before = cdns.corefile
    await _edit_corefile(api, lambda t: t + "\n}\n")
    ev = await until(lambda: events("InvalidCorefile"), what="an InvalidCorefile Event")
    assert "Corefile not applied" in ev[0]["message"]
    assert cdns.corefile is before  # the previous configuration stays in force
    assert (await ask(cdns, "dns-version.cluster.local", "TXT")).rcode() == dns.rcode.NOERROR


async def test_servfail_until_the_caches_have_synced(tmp_path):
    dead = Client("http://127.0.0.1:9")  # nothing listens: the informers never sync
    d = ClusterDNS(dead, listen=[("127.0.0.1", 0)], upstreams=["127.0.0.1:9"], resolv_conf=str(tmp_path / "none"),
                   record_events=False)
    await d.start()
    try:
        for name in ("kubernetes.default.svc.cluster.local", "nosuch.default.svc.cluster.local"):
            out = await asyncio.to_thread(dig, port_of(d), name)
            assert status(out) == "SERVFAIL", out
        assert not d.ready
    finally:
        await d.stop()
        await dead.close()


async def test_a_custom_cluster_domain(api, upstream, tmp_path):
    await api.create(SVC, "default", service("kubia"))
    d = ClusterDNS(api, listen=[("127.0.0.1", 0)], cluster_domain="corp.example", upstreams=[upstream.address],
                   configmap=("kube-system", "coredns-corp"), record_events=False)
    await d.start()
    try:
        await d.wait_ready(10)
        assert answers(await adig(d, "dns-version.corp.example", "TXT")) == ['"1.1.0"']
        assert len(answers(await adig(d, "kubia.default.svc.corp.example"))) == 1
        cm = await api.get(CM, "kube-system", "coredns-corp")
        assert "kubernetes corp.example in-addr.arpa ip6.arpa" in cm["data"]["Corefile"]
    finally:
        await d.stop()


async def test_pods_verified_and_disabled_modes(api, cdns):
    await _edit_corefile(api, lambda t: t.replace("pods insecure", "pods verified"))
    pod = await api.create(by_plural("pods"), "default", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    pod["status"] = {"phase": "Running", "podIP": "10.244.1.77", "podIPs": [{"ip": "10.244.1.77"}]}
    await api.update(by_plural("pods"), pod, "status")
    got = await until(lambda: adig(cdns, "10-244-1-77.default.pod.cluster.local", "+short"), what="verified pod record")
    assert got == "10.244.1.77\n"
    assert status(await adig(cdns, "10-244-1-78.default.pod.cluster.local")) == "NXDOMAIN"  # no such pod
    assert status(await adig(cdns, "10-244-1-77.kube-system.pod.cluster.local")) == "NXDOMAIN"  # other namespace
    await _edit_corefile(api, lambda t: t.replace("pods verified", "pods disabled"))
    await until(lambda: _status_is(cdns, "10-244-1-77.default.pod.cluster.local", "NXDOMAIN"), what="pods disabled")
