"""Regenerate the command outputs of docs/walkthrough.md from a real run.

    sudo .venv/bin/python scripts/walkthrough.py > docs/walkthrough.md

Starts its own kubeloop (a temporary data directory, kubeconfig not merged), runs every
scenario's commands exactly as a user types them (placeholders like {POD1} are filled in
from the cluster and shown filled in), and prints Markdown. Nothing is sent anywhere but
loopback and kubeloop's own namespaces.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import start_cluster, stop_cluster  # noqa: E402

INTRO = """# Walkthrough: Services, Endpoints, Ingress and readiness probes on kubeloop

The user's study notes (`../shared/seed/services-endpoints-ingress-notes.zh.txt`, restated in
`SCENARIOS.md`) turned into a tour. Every command below was run against a real kubeloop with
the real kubectl 1.32; the output is copied from that run (`scripts/walkthrough.py`
regenerates it). The manifests are in `examples/`. Pod names, addresses and ages differ in
your run.

Start the cluster first (`make up`, or `sudo .venv/bin/kubeloop up`) and use a second
terminal.
"""

SECTIONS: list[tuple[str, str, list[str]]] = [
    ("S1. A multi-port service with client-IP affinity",
     "Three kubia pods behind a Service with ports 80 and 443 and `sessionAffinity: ClientIP`. "
     "Every request from one client lands on the same pod.",
     ["kubectl apply -f examples/kubia-rc.yaml",
      "kubectl apply -f examples/kubia-svc.yaml",
      "kubectl wait --for=condition=Ready pods -l app=kubia --timeout=30s",
      "kubectl get pods -o wide",
      "kubectl get svc kubia",
      "for i in 1 2 3 4; do curl -s http://{KUBIA_IP}; done"]),
    ("S2. curl inside a pod; without affinity requests spread",
     "`kubectl exec` runs curl in a pod's namespaces. Through a Service without affinity the "
     "answers come from all three pods.",
     ["kubectl exec {POD1} -- curl -s http://{KUBIA_IP}",
      "kubectl apply -f examples/kubia-svc-spread.yaml",
      "for i in 1 2 3 4 5 6; do kubectl exec {POD1} -- curl -s http://{SPREAD_IP}; done"]),
    ("S3. A NodePort service",
     "Reachable on every node's address at the node port (node-1 is 172.30.0.10, node-2 172.30.0.11).",
     ["kubectl apply -f examples/kubia-nodeport.yaml",
      "kubectl get svc kubia-nodeport",
      "kubectl get nodes -o wide",
      "curl -s http://172.30.0.10:30123",
      "curl -s http://172.30.0.11:30123"]),
    ("S4. A LoadBalancer service",
     "It gets an EXTERNAL-IP (kubeloop's load-balancer controller hands one out from the node "
     "network). The address keeps working when a node dies; that node's own address does not.",
     ["kubectl apply -f examples/kubia-loadbalancer.yaml",
      "sleep 1; kubectl get svc kubia-loadbalancer",
      "curl -s http://{LB_IP}",
      "kubeloop node stop node-2",
      "sleep {GRACE_WAIT}; kubectl get nodes",
      "for i in 1 2 3; do curl -s http://{LB_IP}; done",
      "curl -s -m 3 http://172.30.0.11:{LB_PORT} || echo \"node-2: no answer\"",
      "kubeloop node start node-2",
      "kubectl wait --for=condition=Ready pods -l app=kubia --timeout=60s"]),
    ("S5. Discovery through environment variables",
     "A pod created after the service sees it in its environment.",
     ["kubectl delete pod {POD1} --wait=false",
      "sleep 2; kubectl wait --for=condition=Ready pods -l app=kubia --timeout=30s",
      "kubectl get pods -l app=kubia --sort-by=.metadata.creationTimestamp",
      "kubectl exec {NEWEST} -- env | grep -E '^(KUBIA|KUBERNETES)_SERVICE' | sort"]),
    ("S6. Discovery through DNS",
     "The cluster DNS answers for `kube-system/kube-dns` at 10.96.0.10; its configuration is the "
     "Corefile in ConfigMap `kube-system/coredns`, which you can read and edit with kubectl.",
     ["kubectl exec {POD1} -- curl -s http://kubia.default.svc.cluster.local",
      "kubectl exec {POD1} -- curl -s http://kubia.default",
      "kubectl exec {POD1} -- curl -s http://kubia",
      "kubectl exec {POD1} -- cat /etc/resolv.conf",
      "kubectl exec {POD1} -- hostname --fqdn",
      "kubectl -n kube-system get configmap coredns -o jsonpath='{{.data.Corefile}}'"]),
    ("S7. The extra hop and the client address",
     "`whoami` runs on node-1 and answers with the client address it sees. Through node-2 with "
     "`externalTrafficPolicy: Cluster` (the default) the request takes an extra hop to node-1 "
     "and is masqueraded: the pod sees a node's address, not yours (the host is 172.30.0.1). "
     "With `Local`, only the node that has the pod answers, and the pod sees the real client. "
     "The same split shows with kubia: through node-1's Cluster port the answers come from pods "
     "on both nodes, through its Local port only from node-1's.",
     ["kubectl apply -f examples/whoami.yaml",
      "kubectl wait --for=condition=Ready pod/whoami --timeout=30s; sleep 1",
      "curl -s http://172.30.0.11:30201",
      "curl -s http://172.30.0.10:30202",
      "curl -s -m 3 http://172.30.0.11:30202 || echo \"node-2 has no whoami pod: no answer\"",
      "kubectl apply -f examples/kubia-nodeport-local.yaml",
      "kubectl get pods -o wide -l app=kubia",
      "for i in 1 2 3 4; do curl -s http://172.30.0.10:30123; done",
      "for i in 1 2 3 4; do curl -s http://172.30.0.10:30124; done"]),
    ("S8. A headless service",
     "`clusterIP: None`: the name resolves to the pods.",
     ["kubectl apply -f examples/kubia-headless.yaml",
      "kubectl run dnsutils --image=tutum/dnsutils --command -- sleep infinity",
      "kubectl wait --for=condition=Ready pod/dnsutils --timeout=30s",
      "kubectl exec dnsutils -- nslookup kubia-headless"]),
    ("E1. Endpoints",
     "The addresses behind a service, kept current as pods come and go.",
     ["kubectl get endpoints kubia",
      "kubectl describe svc kubia",
      "kubectl get endpointslices -l kubernetes.io/service-name=kubia"]),
    ("E2. A service without a selector",
     "No endpoints until you write them; then traffic goes to the address you named (here a "
     "server on the host's side of the node network, 172.30.0.1).",
     ["kubectl apply -f examples/external-service.yaml",
      "kubectl get endpoints external-service",
      "python3 -m http.server 8000 --bind 172.30.0.1 --directory /tmp </dev/null >/dev/null 2>&1 & sleep 1",
      "kubectl apply -f examples/external-service-endpoints.yaml",
      "kubectl exec {POD1} -- curl -s -o /dev/null -w '%{{http_code}}\\n' http://external-service"]),
    ("E3. ExternalName",
     "The name is a CNAME to the external name.",
     ["kubectl apply -f examples/external-service-externalname.yaml",
      "kubectl exec dnsutils -- dig +short CNAME external-name.default.svc.cluster.local"]),
    ("R1. A readiness probe",
     "Add `readinessProbe: exec: ls /var/ready` to the RC. Existing pods keep running; new pods "
     "come up not ready and receive no traffic.",
     ["kubectl apply -f examples/kubia-rc-readinessprobe.yaml",
      "kubectl delete pods -l app=kubia",
      "sleep 12; kubectl get pods -l app=kubia",
      "kubectl get endpoints kubia",
      "curl -s -m 3 http://{KUBIA_IP} || echo \"no ready pod: connection refused\""]),
    ("S9. Not-ready pods in DNS",
     "With the tolerate-unready annotation (or `publishNotReadyAddresses: true`) the headless "
     "lookup also returns the pods that are not ready.",
     ["kubectl exec dnsutils -- nslookup kubia-headless",
      "kubectl apply -f examples/kubia-headless-unready.yaml",
      "sleep 1; kubectl exec dnsutils -- nslookup kubia-headless"]),
    ("R2. One pod becomes ready",
     "Each pod has its own /var. Touching the file in one pod makes that pod, and only that pod, "
     "ready within a probe period (10 s by default); it joins the endpoints and gets the traffic.",
     ["kubectl exec {POD1} -- touch /var/ready",
      "sleep 12; kubectl get pods -l app=kubia",
      "kubectl get endpoints kubia",
      "for i in 1 2 3; do curl -s http://{KUBIA_IP}; done"]),
    ("I1. An Ingress with several hosts and paths",
     "kubia.example.com/kubia and /foo and bar.example.com/ each go to their own Service. The "
     "Ingress's ADDRESS is the external address of `kube-system/ingress-nginx-controller`, where "
     "kubeloop's nginx listens. Map the names to it with `kubeloop hosts` (add `--apply` to write "
     "them into /etc/hosts) or, as here, with `curl --resolve`.",
     ["kubectl apply -f examples/foo-bar-services.yaml",
      "kubectl apply -f examples/kubia-ingress.yaml",
      "sleep 2; kubectl get ingress kubia",
      "kubeloop hosts",
      "curl -s --resolve kubia.example.com:80:{ING_IP} http://kubia.example.com/kubia",
      "curl -s --resolve kubia.example.com:80:{ING_IP} http://kubia.example.com/foo",
      "curl -s --resolve bar.example.com:80:{ING_IP} http://bar.example.com/"]),
    ("I2. TLS",
     "A certificate made with openssl, stored with `kubectl create secret tls`, named in the "
     "Ingress's `tls` section; nginx picks it by SNI. Plain HTTP to that host is redirected (308).",
     ["cd /tmp && openssl genrsa -out tls.key 2048",
      "cd /tmp && openssl req -new -x509 -key tls.key -out tls.cert -days 360 -subj /CN=kubia.example.com",
      "cd /tmp && kubectl create secret tls tls-secret --cert=tls.cert --key=tls.key",
      "kubectl apply -f examples/kubia-ingress-tls.yaml",
      "sleep 2; curl -k -v --resolve kubia.example.com:443:{ING_IP} https://kubia.example.com 2>&1 "
      "| grep -E 'SSL connection|subject:|issuer:|HTTP/1.1 200|hit'",
      "curl -s -o /dev/null -w '%{{http_code}} %{{redirect_url}}\\n' --resolve kubia.example.com:80:{ING_IP} "
      "http://kubia.example.com/"]),
    ("I3. The path of a request",
     "Name lookup (the host name maps to the ingress address), the ingress rule for host and path, "
     "the service's endpoints (nginx sends straight to the ready pod addresses, not through the "
     "cluster IP), the pod, which says who answered:",
     ["kubectl describe ingress kubia",
      "kubectl get endpoints kubia-spread",
      "for i in 1 2 3; do curl -sk --resolve kubia.example.com:443:{ING_IP} https://kubia.example.com/; done"]),
]


PLACEHOLDERS = ("POD1", "NEWEST", "KUBIA_IP", "SPREAD_IP", "LB_IP", "LB_PORT", "ING_IP")
Transcript = list[tuple[str, str, list[tuple[str, str]]]]  # (title, text, [(command, output)])


def run(grace: int = 40) -> Transcript:
    """Start a kubeloop, run every section's commands, return what each printed."""
    # Names outside the cluster go to a stand-in resolver on loopback (it answers NXDOMAIN),
    # never to the machine's own resolver.
    import asyncio
    import threading

    from kubeloop.dns.testing import StaticUpstream

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    upstream = asyncio.run_coroutine_threadsafe(StaticUpstream().start(), loop).result(10)
    data = Path(tempfile.mkdtemp(prefix="kubeloop-walkthrough-"))
    cluster = start_cluster(data, "--nodes", "2", "--dns-upstream", upstream.address,
                            "--node-monitor-grace-period", str(grace))
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig),
           "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    kubeloop_wrapper = data / "bin" / "kubeloop"
    kubeloop_wrapper.parent.mkdir()
    kubeloop_wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m kubeloop.cli --data-dir {data} \"$@\"\n")
    kubeloop_wrapper.chmod(0o755)
    env["PATH"] = f"{kubeloop_wrapper.parent}:{env['PATH']}"

    def sh(cmd: str) -> str:
        r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        return (r.stdout + r.stderr).rstrip()

    def lookup(name: str) -> str:
        queries = {
            "POD1": "kubectl get pods -l app=kubia -o jsonpath='{.items[0].metadata.name}'",
            "NEWEST": "kubectl get pods -l app=kubia --sort-by=.metadata.creationTimestamp "
                      "-o jsonpath='{.items[-1:].metadata.name}'",
            "KUBIA_IP": "kubectl get svc kubia -o jsonpath='{.spec.clusterIP}'",
            "SPREAD_IP": "kubectl get svc kubia-spread -o jsonpath='{.spec.clusterIP}'",
            "LB_IP": "kubectl get svc kubia-loadbalancer -o jsonpath='{.status.loadBalancer.ingress[0].ip}'",
            "LB_PORT": "kubectl get svc kubia-loadbalancer -o jsonpath='{.spec.ports[0].nodePort}'",
            "ING_IP": "kubectl get ingress kubia -o jsonpath='{.status.loadBalancer.ingress[0].ip}'",
        }
        return sh(queries[name])

    transcript: Transcript = []
    try:
        for title, text, commands in SECTIONS:
            steps: list[tuple[str, str]] = []
            for template in commands:
                values = {k: lookup(k) for k in PLACEHOLDERS if "{" + k + "}" in template}
                cmd = template.format(GRACE_WAIT=grace + 5, **values)
                steps.append((cmd, sh(cmd)))
                time.sleep(0.2)
            transcript.append((title, text, steps))
    finally:
        sh("pkill -f 'http.server 8000 --bind 172.30.0.1'")
        stop_cluster(cluster)
        asyncio.run_coroutine_threadsafe(upstream.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
    return transcript


def main() -> None:
    out = [INTRO]
    for title, text, steps in run():
        out.append(f"\n## {title}\n\n{text}\n")
        for cmd, result in steps:
            out.append(f"```\n$ {cmd}\n{result}\n```\n" if result else f"```\n$ {cmd}\n```\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
