"""Service networking end to end (SCENARIOS.md S1-S4, S7, E2, R1/R2 as seen by traffic).

A two-node kubeloop; traffic from the host shell (curl) and from inside pods (kubectl exec
curl) to cluster IPs, node ports and load-balancer addresses, all inside namespaces kubeloop
created. Needs root; in CI a missing prerequisite fails instead of skipping.
"""

from __future__ import annotations

import collections
import http.server
import json
import re
import os
import shutil
import subprocess
import sys
import threading
from typing import Iterator

import pytest

from conftest import RunningCluster, apply_manifest, rc_manifest, require, start_cluster, stop_cluster, wait_for

pytestmark = pytest.mark.root

HOST_BRIDGE = "172.30.0.1"
NODE_ADDRESSES = ["172.30.0.10", "172.30.0.11"]

# A pod that answers with the client address it sees (for S7).
WHOAMI = """\
apiVersion: v1
kind: ReplicationController
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      nodeName: node-1
      containers:
      - name: whoami
        image: busybox
        command:
        - {python}
        - -c
        - |
          import http.server
          class H(http.server.BaseHTTPRequestHandler):
              def do_GET(self):
                  body = self.client_address[0].encode()
                  self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
                  self.wfile.write(body)
          http.server.HTTPServer(("0.0.0.0", 8080), H).serve_forever()
"""


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    require(os.geteuid() == 0, "needs root for network namespaces")
    require(shutil.which("kubectl") is not None, "kubectl is not installed")
    require(shutil.which("nft") is not None, "nftables is not installed")
    require(shutil.which("curl") is not None, "curl is not installed")
    cluster = start_cluster(tmp_path_factory.mktemp("kubeloop-svc"), "--nodes", "2",
                            "--node-monitor-grace-period", "4")
    yield cluster
    stop_cluster(cluster)
    assert "kubeloop" not in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout



def service(name: str, app: str, *, extra_spec: str = "", ports: str = "  - port: 80\n    targetPort: 8080\n") -> str:
    return (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n{extra_spec}"
            f"  selector:\n    app: {app}\n  ports:\n{ports}")


def curl(url: str, timeout: float = 3) -> str:
    r = subprocess.run(["curl", "-s", "-m", str(timeout), url], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else ""


def ready_pods(c: RunningCluster, app: str, count: int) -> list[dict]:
    def check() -> list[dict] | None:
        pods = json.loads(c.kubectl("get", "pods", "-l", f"app={app}", "-o", "json").stdout)["items"]
        ok = [p for p in pods if any(x["type"] == "Ready" and x["status"] == "True"
                                     for x in p["status"].get("conditions", []))]
        return ok if len(ok) == count else None

    return wait_for(check, what=f"{count} ready {app} pods")


def field(c: RunningCluster, svc: str, path: str) -> str:
    return c.kubectl("get", "svc", svc, "-o", f"jsonpath={path}").stdout


def hits(fetch, n: int) -> collections.Counter[str]:
    return collections.Counter(fetch() for _ in range(n))


@pytest.fixture(scope="module")
def kubia(c: RunningCluster, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    tmp = tmp_path_factory.mktemp("kubia")
    apply_manifest(c.kubectl, tmp, "rc", rc_manifest("kubia", 3))
    pods = ready_pods(c, "kubia", 3)
    names = [p["metadata"]["name"] for p in pods]
    for p in pods:  # ready once started: wait until each one listens
        wait_for(lambda p=p: curl(f"http://{p['status']['podIP']}:8080"), what="kubia listening")
    return names


def test_s1_multi_port_service_with_client_ip_affinity(c, kubia, tmp_path):
    apply_manifest(c.kubectl, tmp_path, "svc", service("kubia", "kubia", extra_spec="  sessionAffinity: ClientIP\n",
                                      ports="  - name: http\n    port: 80\n    targetPort: 8080\n"
                                            "  - name: https\n    port: 443\n    targetPort: 8443\n"))
    row = c.kubectl("get", "svc", "kubia").stdout.splitlines()[1].split()
    assert row[4] == "80/TCP,443/TCP"
    ip = row[2]
    wait_for(lambda: curl(f"http://{ip}"), what="service answering")
    from_host = hits(lambda: curl(f"http://{ip}"), 12)
    assert len(from_host) == 1 and next(iter(from_host)).startswith("You've hit kubia-")
    # S2: from inside a pod, also one pod for one client.
    from_pod = hits(lambda: c.kubectl("exec", kubia[0], "--", "curl", "-s", f"http://{ip}").stdout, 6)
    assert len(from_pod) == 1 and next(iter(from_pod)).startswith("You've hit kubia-")


def test_s2_without_affinity_requests_spread(c, kubia, tmp_path):
    apply_manifest(c.kubectl, tmp_path, "spread", service("kubia-spread", "kubia"))
    ip = field(c, "kubia-spread", "{.spec.clusterIP}")
    wait_for(lambda: curl(f"http://{ip}"), what="service answering")
    seen = hits(lambda: c.kubectl("exec", kubia[0], "--", "curl", "-s", f"http://{ip}").stdout, 24)
    assert set(seen) == {f"You've hit {n}\n" for n in kubia}, seen


def test_s3_node_port_on_every_node_address(c, kubia, tmp_path):
    apply_manifest(c.kubectl, tmp_path, "np", service("kubia-nodeport", "kubia", extra_spec="  type: NodePort\n",
                                     ports="  - port: 80\n    targetPort: 8080\n    nodePort: 30123\n"))
    for node in NODE_ADDRESSES:
        assert wait_for(lambda node=node: curl(f"http://{node}:30123"), what=f"node port on {node}") \
            .startswith("You've hit kubia-")


def test_no_ready_endpoints_rejects_at_once(c, tmp_path):
    apply_manifest(c.kubectl, tmp_path, "empty", service("nobody", "nobody-home"))
    ip = field(c, "nobody", "{.spec.clusterIP}")
    r = subprocess.run(["curl", "-s", "-m", "5", f"http://{ip}"], capture_output=True, text=True)
    assert r.returncode == 7  # connection refused, not a timeout (28)


def test_e2_selectorless_service_reaches_a_server_outside_the_cluster(c, tmp_path):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"external server\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((HOST_BRIDGE, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        apply_manifest(c.kubectl, tmp_path, "ext", "apiVersion: v1\nkind: Service\nmetadata:\n  name: external-service\nspec:\n"
              "  ports:\n  - port: 80\n")
        ip = field(c, "external-service", "{.spec.clusterIP}")
        apply_manifest(c.kubectl, tmp_path, "ext-ep", "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: external-service\n"
              f"subsets:\n  - addresses:\n    - ip: {HOST_BRIDGE}\n    ports:\n    - port: {port}\n")
        assert wait_for(lambda: curl(f"http://{ip}"), what="external endpoint") == "external server\n"
    finally:
        server.shutdown()


def test_r1_r2_traffic_only_to_ready_pods(c, tmp_path):
    readiness = ("        readinessProbe:\n          periodSeconds: 1\n          exec:\n"
                 "            command: [ls, /var/ready]\n")
    apply_manifest(c.kubectl, tmp_path, "rrc", rc_manifest("gated", 3, container=readiness))
    apply_manifest(c.kubectl, tmp_path, "rsvc", service("gated", "gated"))
    ip = field(c, "gated", "{.spec.clusterIP}")
    pods = wait_for(lambda: (lambda items: len(items) == 3 and all(p["status"].get("phase") == "Running"
                                                                  for p in items) and items)(
        json.loads(c.kubectl("get", "pods", "-l", "app=gated", "-o", "json").stdout)["items"]), what="gated pods")
    r = subprocess.run(["curl", "-s", "-m", "5", f"http://{ip}"], capture_output=True)
    assert r.returncode == 7  # nobody ready: rejected
    chosen = pods[1]["metadata"]["name"]
    c.kubectl("exec", chosen, "--", "touch", "/var/ready")
    wait_for(lambda: curl(f"http://{ip}"), what="the ready pod answering")
    assert hits(lambda: curl(f"http://{ip}"), 10) == {f"You've hit {chosen}\n": 10}


def test_s7_client_address_cluster_vs_local(c, tmp_path):
    apply_manifest(c.kubectl, tmp_path, "who", WHOAMI.format(name="whoami", python=sys.executable))
    ready_pods(c, "whoami", 1)
    apply_manifest(c.kubectl, tmp_path, "who-cluster", service("who-cluster", "whoami", extra_spec="  type: NodePort\n",
                                              ports="  - port: 80\n    targetPort: 8080\n    nodePort: 30201\n"))
    apply_manifest(c.kubectl, tmp_path, "who-local", service("who-local", "whoami",
                                            extra_spec="  type: NodePort\n  externalTrafficPolicy: Local\n",
                                            ports="  - port: 80\n    targetPort: 8080\n    nodePort: 30202\n"))
    # Cluster: reached through node-2 (an extra hop to node-1), the pod sees a node's address.
    seen = wait_for(lambda: curl(f"http://{NODE_ADDRESSES[1]}:30201"), what="Cluster policy answer")
    assert seen != HOST_BRIDGE and seen.startswith(("172.30.0.", "10.244."))
    # Local: only the node with the pod answers, and the pod sees the real client (the host).
    assert wait_for(lambda: curl(f"http://{NODE_ADDRESSES[0]}:30202"), what="Local policy answer") == HOST_BRIDGE
    assert curl(f"http://{NODE_ADDRESSES[1]}:30202", timeout=2) == ""


def test_health_check_node_port_for_local_load_balancers(c, tmp_path):
    """externalTrafficPolicy: Local on a LoadBalancer: every node answers the service's
    healthCheckNodePort as kube-proxy does (200 where the service has a ready endpoint, 503
    elsewhere), the EXTERNAL-IP reaches the pod with the real client address, and
    :10256/healthz says each node's proxy is in sync."""
    apply_manifest(c.kubectl, tmp_path, "who", WHOAMI.format(name="whoami", python=sys.executable))
    ready_pods(c, "whoami", 1)  # on node-1 only
    apply_manifest(c.kubectl, tmp_path, "who-lb", service("who-lb", "whoami",
                                            extra_spec="  type: LoadBalancer\n  externalTrafficPolicy: Local\n",
                                            ports="  - port: 80\n    targetPort: 8080\n"))
    check = int(wait_for(lambda: field(c, "who-lb", "{.spec.healthCheckNodePort}"), what="healthCheckNodePort"))

    def health(address: str) -> tuple[int, dict]:
        r = subprocess.run(["curl", "-s", "-m", "3", "-w", "\n%{http_code}", f"http://{address}:{check}/"],
                           capture_output=True, text=True)
        body, _, code = r.stdout.rpartition("\n")
        return int(code or 0), json.loads(body) if body else {}

    code, body = wait_for(lambda: (lambda r: r[0] == 200 and r)(health(NODE_ADDRESSES[0])), what="node-1 healthy")
    assert body == {"service": {"namespace": "default", "name": "who-lb"}, "localEndpoints": 1,
                    "serviceProxyHealthy": True}
    code, body = health(NODE_ADDRESSES[1])
    assert code == 503 and body["localEndpoints"] == 0
    lb = wait_for(lambda: field(c, "who-lb", "{.status.loadBalancer.ingress[0].ip}"), what="EXTERNAL-IP")
    assert wait_for(lambda: curl(f"http://{lb}"), what="LB answer") == HOST_BRIDGE
    for address in NODE_ADDRESSES:
        r = subprocess.run(["curl", "-s", "-m", "3", "-w", "\n%{http_code}", f"http://{address}:10256/healthz"],
                           capture_output=True, text=True)
        body_text, _, status = r.stdout.rpartition("\n")
        assert status == "200" and "lastUpdated" in json.loads(body_text)
        # kube-proxy's metrics: every node has programmed endpoint changes by now.
        metrics = subprocess.run(["curl", "-s", "-m", "3", f"http://{address}:10249/metrics"],
                                 capture_output=True, text=True).stdout
        count = re.search(r"^kubeproxy_network_programming_duration_seconds_count (\d+)$", metrics, re.M)
        assert count and int(count[1]) > 0, metrics
    c.kubectl("delete", "svc", "who-lb")
    wait_for(lambda: subprocess.run(["curl", "-s", "-m", "2", f"http://{NODE_ADDRESSES[0]}:{check}/"],
                                    capture_output=True).returncode == 7, what="health check port closed")


def test_s4_load_balancer_survives_a_node_stop(c, kubia, tmp_path):
    apply_manifest(c.kubectl, tmp_path, "lb", service("kubia-lb", "kubia", extra_spec="  type: LoadBalancer\n"))
    lb = wait_for(lambda: field(c, "kubia-lb", "{.status.loadBalancer.ingress[0].ip}"), what="EXTERNAL-IP")
    assert c.kubectl("get", "svc", "kubia-lb").stdout.splitlines()[1].split()[3] == lb
    node_port = field(c, "kubia-lb", "{.spec.ports[0].nodePort}")
    assert wait_for(lambda: curl(f"http://{lb}"), what="LB answering").startswith("You've hit kubia-")
    kubeloop = [sys.executable, "-m", "kubeloop.cli", "--data-dir", str(c.data_dir)]
    subprocess.run([*kubeloop, "node", "stop", "node-2"], check=True, capture_output=True)
    try:
        # Once node-2 is NotReady and its pods left the endpoints, every request succeeds.
        wait_for(lambda: "node-2   NotReady" in c.kubectl("get", "nodes").stdout, what="node-2 NotReady")
        wait_for(lambda: all(curl(f"http://{lb}") for _ in range(6)), what="LB answering through node-1 only")
        assert curl(f"http://{NODE_ADDRESSES[1]}:{node_port}", timeout=2) == ""
        assert curl(f"http://{NODE_ADDRESSES[0]}:{node_port}").startswith("You've hit kubia-")
    finally:
        subprocess.run([*kubeloop, "node", "start", "node-2"], check=True, capture_output=True)


@pytest.fixture(scope="module")
def dnsutils(c: RunningCluster) -> str:
    c.kubectl("run", "dnsutils", "--image=tutum/dnsutils", "--command", "--", "sleep", "infinity")
    c.kubectl("wait", "--for=condition=Ready", "pod/dnsutils", "--timeout=30s")
    return "dnsutils"


def test_s6_discovery_through_dns(c, kubia, dnsutils, tmp_path):
    apply_manifest(c.kubectl, tmp_path, "dns-svc", service("kubia-dns", "kubia"))
    ip = field(c, "kubia-dns", "{.spec.clusterIP}")
    for url in ("http://kubia-dns.default.svc.cluster.local", "http://kubia-dns.default", "http://kubia-dns"):
        out = wait_for(lambda url=url: c.kubectl("exec", dnsutils, "--", "curl", "-s", "-m", "3", url,
                                                 check=False).stdout, what=url)
        assert out.startswith("You've hit kubia-")
    resolv = c.kubectl("exec", dnsutils, "--", "cat", "/etc/resolv.conf").stdout
    assert "nameserver 10.96.0.10" in resolv and "options ndots:5" in resolv
    assert c.kubectl("exec", dnsutils, "--", "hostname", "--fqdn").stdout.strip() == "dnsutils"
    # From the host too, straight to the cluster DNS address.
    out = subprocess.run(["dig", "+short", "@10.96.0.10", "kubia-dns.default.svc.cluster.local"],
                         capture_output=True, text=True).stdout.split()
    assert out == [ip]
    corefile = c.kubectl("-n", "kube-system", "get", "configmap", "coredns", "-o", "jsonpath={.data.Corefile}").stdout
    assert "kubernetes cluster.local" in corefile


def test_s8_s9_headless_service_returns_pod_addresses(c, kubia, dnsutils, tmp_path):
    apply_manifest(c.kubectl, tmp_path, "headless", service("kubia-headless", "kubia", extra_spec="  clusterIP: None\n"))
    pod_ips = sorted(json.loads(c.kubectl("get", "pods", "-l", "app=kubia", "-o", "json").stdout)["items"][i]
                     ["status"]["podIP"] for i in range(3))

    def addresses(name: str) -> list[str]:
        out = c.kubectl("exec", dnsutils, "--", "nslookup", name, check=False).stdout
        # "Address: 10.96.0.10#53" is the server itself; the answers follow each "Name:".
        return sorted(line.split()[1] for line in out.splitlines()
                      if line.startswith("Address:") and "#" not in line)

    assert wait_for(lambda: addresses("kubia-headless") == pod_ips and pod_ips, what="one A per ready pod")
    # A pod that is not ready is left out ... unless the service publishes not-ready addresses.
    readiness = ("        readinessProbe:\n          periodSeconds: 1\n          exec:\n"
                 "            command: [ls, /var/ready]\n")
    apply_manifest(c.kubectl, tmp_path, "unready", rc_manifest("unready", 1, container=readiness))
    unready = wait_for(lambda: (lambda items: items and items[0]["status"].get("podIP"))(
        json.loads(c.kubectl("get", "pods", "-l", "app=unready", "-o", "json").stdout)["items"]), what="pod IP")
    apply_manifest(c.kubectl, tmp_path, "h2", service("unready-headless", "unready", extra_spec="  clusterIP: None\n"))
    apply_manifest(c.kubectl, tmp_path, "h3", "apiVersion: v1\nkind: Service\nmetadata:\n  name: unready-tolerant\n  annotations:\n"
          "    service.alpha.kubernetes.io/tolerate-unready-endpoints: \"true\"\nspec:\n  clusterIP: None\n"
          "  selector:\n    app: unready\n  ports:\n  - port: 80\n    targetPort: 8080\n")
    assert wait_for(lambda: addresses("unready-tolerant") == [unready], what="not-ready pod published")
    assert addresses("unready-headless") == []


def test_e3_external_name_is_a_cname(c, dnsutils, tmp_path):
    apply_manifest(c.kubectl, tmp_path, "extname", "apiVersion: v1\nkind: Service\nmetadata:\n  name: external-name\nspec:\n"
          "  type: ExternalName\n  externalName: api.somecompany.com\n  ports:\n  - port: 80\n")
    out = wait_for(lambda: c.kubectl("exec", dnsutils, "--", "dig", "+short", "CNAME",
                                     "external-name.default.svc.cluster.local").stdout.strip(), what="CNAME")
    assert out == "api.somecompany.com."


INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: kubia
spec:
{tls}  rules:
  - host: kubia.example.com
    http:
      paths:
      - path: /kubia
        pathType: Prefix
        backend:
          service:
            name: kubia-spread
            port:
              number: 80
      - path: /foo
        pathType: Prefix
        backend:
          service:
            name: foo
            port:
              number: 80
  - host: bar.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: bar
            port:
              number: 80
"""


def curl_host(host: str, address: str, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    port = "443" if url.startswith("https") else "80"
    return subprocess.run(["curl", "-s", "-m", "5", "--resolve", f"{host}:{port}:{address}", *args, url],
                          capture_output=True, text=True)


def test_i1_i3_ingress_hosts_and_paths_to_services(c, kubia, tmp_path):
    for name in ("foo", "bar"):
        apply_manifest(c.kubectl, tmp_path, name, service(name, "kubia"))
    apply_manifest(c.kubectl, tmp_path, "spread", service("kubia-spread", "kubia"))
    apply_manifest(c.kubectl, tmp_path, "ing", INGRESS.format(tls=""))
    address = wait_for(lambda: c.kubectl("get", "ingress", "kubia", "-o",
                                         "jsonpath={.status.loadBalancer.ingress[0].ip}").stdout, what="ADDRESS")
    row = c.kubectl("get", "ingress", "kubia").stdout.splitlines()[1].split()
    assert row[1:4] == ["kubeloop", "kubia.example.com,bar.example.com", address]
    # I3: host -> rule -> service endpoints -> a pod, which says who answered.
    for host, path in (("kubia.example.com", "/kubia"), ("kubia.example.com", "/foo"), ("bar.example.com", "/")):
        out = wait_for(lambda host=host, path=path: curl_host(host, address, f"http://{host}{path}").stdout,
                       what=f"{host}{path}")
        assert out.startswith("You've hit kubia-")
    r = curl_host("other.example.com", address, "http://other.example.com/", "-o", "/dev/null", "-w", "%{http_code}")
    assert r.stdout == "404"
    hosts = subprocess.run([sys.executable, "-m", "kubeloop.cli", "--data-dir", str(c.data_dir), "hosts"],
                           capture_output=True, text=True).stdout.splitlines()
    assert sorted(hosts) == sorted([f"{address}\tbar.example.com", f"{address}\tkubia.example.com"])


def test_i2_tls_with_a_secret_made_by_openssl(c, kubia, tmp_path):
    key, cert = tmp_path / "tls.key", tmp_path / "tls.cert"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-x509", "-key", str(key), "-out", str(cert), "-days", "360",
                    "-subj", "/CN=kubia.example.com"], check=True, capture_output=True)
    c.kubectl("create", "secret", "tls", "tls-secret", f"--cert={cert}", f"--key={key}")
    for name in ("foo", "bar", "kubia-spread"):
        apply_manifest(c.kubectl, tmp_path, name, service(name, "kubia"))
    tls = "  tls:\n  - hosts:\n    - kubia.example.com\n    secretName: tls-secret\n"
    apply_manifest(c.kubectl, tmp_path, "ing-tls", INGRESS.format(tls=tls))
    address = wait_for(lambda: c.kubectl("get", "ingress", "kubia", "-o",
                                         "jsonpath={.status.loadBalancer.ingress[0].ip}").stdout, what="ADDRESS")

    def handshake() -> subprocess.CompletedProcess[str] | None:
        r = curl_host("kubia.example.com", address, "https://kubia.example.com/kubia", "-k", "-v")
        return r if "subject: CN=kubia.example.com" in r.stderr and r.stdout else None

    r = wait_for(handshake, what="TLS with the secret's certificate")
    assert r.stdout.startswith("You've hit kubia-")
    # Until the old nginx workers have let go of the listening sockets (a graceful reload), a
    # new connection may still meet the previous configuration: allow the usual second.
    redirect = wait_for(lambda: (lambda r: r.stdout == "308 https://kubia.example.com/kubia" and r)(
        curl_host("kubia.example.com", address, "http://kubia.example.com/kubia", "-o", "/dev/null",
                  "-w", "%{http_code} %{redirect_url}")), timeout=2, what="308 redirect to HTTPS")
    assert redirect.stdout == "308 https://kubia.example.com/kubia"
