"""The user's walkthrough, end to end: every scenario of SCENARIOS.md run exactly as
docs/walkthrough.md shows it (the same commands, from the examples/ files, by
scripts/walkthrough.py), with what the user must see asserted section by section.

One cluster for the whole tour (the scenarios build on each other, as in the notes); the node
grace period is shortened to 4 s so that S4's node failure takes seconds, not a minute.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import require

pytestmark = pytest.mark.root

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tour() -> dict[str, list[tuple[str, str]]]:
    require(os.geteuid() == 0, "needs root for network namespaces")
    for tool in ("kubectl", "curl", "openssl", "nft"):
        require(shutil.which(tool) is not None, f"{tool} is not installed")
    spec = importlib.util.spec_from_file_location("walkthrough", ROOT / "scripts" / "walkthrough.py")
    assert spec is not None and spec.loader is not None
    walkthrough = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(walkthrough)
    return {title.split(".")[0]: steps for title, _text, steps in walkthrough.run(grace=4)}


def output(steps: list[tuple[str, str]], fragment: str) -> str:
    """The output of the (first) command containing fragment."""
    return next(out for cmd, out in steps if fragment in cmd)


HIT = re.compile(r"^You've hit kubia-\w+$")


def answers(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def test_s1_affinity(tour):
    steps = tour["S1"]
    assert "80/TCP,443/TCP" in output(steps, "get svc kubia")
    hits = answers(output(steps, "curl -s http://"))
    assert len(hits) == 4 and len(set(hits)) == 1 and HIT.match(hits[0])


def test_s2_spread_from_a_pod(tour):
    hits = answers(output(tour["S2"], "for i in 1 2 3 4 5 6"))
    assert len(hits) == 6 and all(HIT.match(h) for h in hits) and len(set(hits)) >= 2


def test_s3_node_port(tour):
    assert HIT.match(output(tour["S3"], "172.30.0.10:30123"))
    assert HIT.match(output(tour["S3"], "172.30.0.11:30123"))


def test_s4_load_balancer_and_node_failure(tour):
    steps = tour["S4"]
    row = output(steps, "get svc kubia-loadbalancer").splitlines()[1].split()
    assert row[1] == "LoadBalancer" and row[3] != "<pending>"
    assert "node-2   NotReady" in output(steps, "kubectl get nodes")
    assert all(HIT.match(h) for h in answers(output(steps, "for i in 1 2 3")))
    assert output(steps, "172.30.0.11:") == "node-2: no answer"


def test_s5_environment(tour):
    env = output(tour["S5"], "-- env")
    assert "KUBIA_SERVICE_HOST=10." in env and "KUBIA_SERVICE_PORT=80" in env
    assert "KUBERNETES_SERVICE_HOST=10.96.0.1" in env


def test_s6_dns(tour):
    steps = tour["S6"]
    for name in ("kubia.default.svc.cluster.local", "kubia.default", "http://kubia"):
        assert HIT.match(output(steps, name))
    assert "nameserver 10.96.0.10" in output(steps, "resolv.conf")
    assert "kubernetes cluster.local" in output(steps, "configmap coredns")


def test_s7_extra_hop_and_client_address(tour):
    steps = tour["S7"]
    cluster = output(steps, "172.30.0.11:30201")
    assert cluster.startswith("client address seen by the pod: ") and not cluster.endswith(" 172.30.0.1")
    assert output(steps, "172.30.0.10:30202") == "client address seen by the pod: 172.30.0.1"
    assert output(steps, "172.30.0.11:30202") == "node-2 has no whoami pod: no answer"
    # Through node-1's Local port only node-1's kubia pods answer (how many live there
    # depends on where earlier steps' replacements were scheduled).
    listed = [line.split() for line in output(steps, "get pods -o wide -l app=kubia").splitlines()[1:]]
    on_node1 = {f"You've hit {row[0]}" for row in listed if row[6] == "node-1"}
    local = answers(output(steps, ":30124"))
    assert len(local) == 4 and on_node1 and set(local) <= on_node1, (local, listed)


def test_s8_headless(tour):
    assert output(tour["S8"], "nslookup kubia-headless").count("Name:\tkubia-headless.default.svc.cluster.local") == 3


def test_e1_endpoints(tour):
    assert re.search(r"kubia\s+10\.244\.", output(tour["E1"], "get endpoints kubia"))
    assert "Endpoints:                10.244." in output(tour["E1"], "describe svc kubia")


def test_e2_selectorless(tour):
    assert 'endpoints "external-service" not found' in output(tour["E2"], "get endpoints external-service")
    assert output(tour["E2"], "http_code") == "200"


def test_e3_external_name(tour):
    assert output(tour["E3"], "dig") == "api.somecompany.com."


def test_r1_r2_readiness(tour):
    r1 = tour["R1"]
    assert all(line.split()[1] == "0/1" for line in output(r1, "sleep 12").splitlines()[1:])
    assert output(r1, "curl -s -m 3") == "no ready pod: connection refused"
    r2 = tour["R2"]
    readiness = [line.split()[1] for line in output(r2, "sleep 12").splitlines()[1:]]
    assert sorted(readiness) == ["0/1", "0/1", "1/1"]
    hits = answers(output(r2, "for i in 1 2 3"))
    assert len(hits) == 3 and len(set(hits)) == 1


def test_s9_not_ready_pods_in_dns(tour):
    assert "NXDOMAIN" in output(tour["S9"], "nslookup kubia-headless")
    steps = tour["S9"]
    last = steps[-1][1]
    assert last.count("Name:\tkubia-headless.default.svc.cluster.local") == 3


def test_i1_hosts_and_paths(tour):
    steps = tour["I1"]
    assert re.search(r"kubia\s+kubeloop\s+kubia.example.com,bar.example.com\s+172\.30\.0\.",
                     output(steps, "get ingress kubia"))
    for fragment in ("example.com/kubia", "example.com/foo", "http://bar.example.com/"):
        assert HIT.match(output(steps, fragment))


def test_i2_tls(tour):
    steps = tour["I2"]
    assert "secret/tls-secret created" in output(steps, "create secret tls")
    tls = output(steps, "curl -k -v")
    assert "subject: CN=kubia.example.com" in tls and "You've hit kubia-" in tls
    assert output(steps, "http_code") == "308 https://kubia.example.com/"


def test_i3_path_of_a_request(tour):
    assert "tls-secret terminates kubia.example.com" in output(tour["I3"], "describe ingress")
    assert all(HIT.match(h) for h in answers(output(tour["I3"], "for i in 1 2 3")))
