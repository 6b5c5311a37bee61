"""Nodes and pods for real: a two-node kubeloop, pods as namespaced processes, driven by kubectl.

Needs root (network namespaces); in CI a missing prerequisite fails instead of skipping.
The module shares one cluster; each test uses its own objects.
"""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import RunningCluster, apply_manifest, rc_manifest, require, start_cluster, stop_cluster, wait_for

pytestmark = pytest.mark.root

READINESS = """\
        readinessProbe:
          periodSeconds: 1
          exec:
            command:
            - ls
            - /var/ready
"""


@pytest.fixture(scope="module")
def nodes_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    require(os.geteuid() == 0, "needs root for network namespaces")
    require(shutil.which("kubectl") is not None, "kubectl is not installed")
    require(shutil.which("ip") is not None, "iproute2 is not installed")
    c = start_cluster(tmp_path_factory.mktemp("kubeloop-nodes"), "--nodes", "2", "--node-monitor-grace-period", "4")
    yield c
    stop_cluster(c)
    # Nothing of the cluster may remain: namespaces, links, processes.
    assert not [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split("\n")
                if n.startswith("kl-")]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert " kl0" not in links and " kln0" not in links
    left = subprocess.run(["pgrep", "-f", str(c.data_dir)], capture_output=True, text=True).stdout.split()
    assert left == [], f"processes left behind: {left}"


def pods(c: RunningCluster, selector: str) -> list[dict]:
    return json.loads(c.kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]


def ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))



def test_nodes_register_ready(nodes_cluster):
    out = nodes_cluster.kubectl("get", "nodes", "-o", "wide").stdout.splitlines()
    assert [line.split()[:2] for line in out[1:]] == [["node-1", "Ready"], ["node-2", "Ready"]]
    assert "172.30.0.10" in out[1] and "172.30.0.11" in out[2]


def test_rc_pods_run_on_both_nodes_and_answer_with_their_names(nodes_cluster, tmp_path):
    c = nodes_cluster
    apply_manifest(c.kubectl, tmp_path, "kubia", rc_manifest("kubia", 3))
    running = wait_for(lambda: (lambda ps: len(ps) == 3 and all(ready(p) for p in ps) and ps)(pods(c, "app=kubia")),
                       what="3 ready kubia pods")
    assert {p["spec"]["nodeName"] for p in running} == {"node-1", "node-2"}
    for p in running:
        name, ip = p["metadata"]["name"], p["status"]["podIP"]
        assert ip.startswith("10.244.")
        # Without a readiness probe a pod is ready once started, maybe before it listens: retry.
        out = wait_for(lambda: subprocess.run(["curl", "-s", "-m", "5", f"http://{ip}:8080"],
                                              capture_output=True, text=True).stdout, what=f"answer from {name}")
        assert out == f"You've hit {name}\n"
        status = p["status"]["containerStatuses"][0]
        assert status["ready"] and status["started"] and "running" in status["state"]
    row = c.kubectl("get", "rc", "kubia").stdout.splitlines()[1].split()
    assert row[:4] == ["kubia", "3", "3", "3"]
    # One pod reaches another on the other node.
    a, b = running[0], next(p for p in running if p["spec"]["nodeName"] != running[0]["spec"]["nodeName"])
    out = c.kubectl("exec", a["metadata"]["name"], "--", "curl", "-s", f"http://{b['status']['podIP']}:8080").stdout
    assert out == f"You've hit {b['metadata']['name']}\n"


def test_exec_env_resolv_conf_logs(nodes_cluster, tmp_path):
    c = nodes_cluster
    apply_manifest(c.kubectl, tmp_path, "ex", rc_manifest("ex", 1))
    pod = wait_for(lambda: (lambda ps: ps and ready(ps[0]) and ps[0])(pods(c, "app=ex")), what="ex pod")
    name = pod["metadata"]["name"]
    assert c.kubectl("exec", name, "--", "hostname").stdout.strip() == name
    env = c.kubectl("exec", name, "--", "env").stdout
    assert "KUBERNETES_SERVICE_HOST=10.96.0.1" in env and "KUBERNETES_SERVICE_PORT=443" in env
    assert f"HOSTNAME={name}" in env
    resolv = c.kubectl("exec", name, "--", "cat", "/etc/resolv.conf").stdout
    assert resolv.splitlines() == ["search default.svc.cluster.local svc.cluster.local cluster.local",
                                   "nameserver 10.96.0.10", "options ndots:5"]
    failed = c.kubectl("exec", name, "--", "sh", "-c", "exit 3", check=False)
    assert failed.returncode == 3 and "command terminated with exit code 3" in failed.stderr
    assert c.kubectl("exec", "-i", name, "--", "cat", input="piped\n").stdout == "piped\n"
    assert "Kubia server starting..." in c.kubectl("logs", name).stdout
    # Each pod has its own /tmp and /var; the host's filesystem is read-only inside.
    c.kubectl("exec", name, "--", "touch", "/var/mine")
    assert not Path("/var/mine").exists()
    ro = c.kubectl("exec", name, "--", "touch", "/usr/kubeloop-test", check=False)
    assert ro.returncode != 0 and not Path("/usr/kubeloop-test").exists()


TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (.*)$")


def test_logs_have_timestamps_and_since_is_exact(nodes_cluster):
    c = nodes_cluster
    c.kubectl("run", "ticker", "--image=busybox", "--restart=Never", "--",
              "sh", "-c", "echo early; echo warn >&2; sleep 3; echo late; sleep infinity")
    wait_for(lambda: "late" in c.kubectl("logs", "ticker").stdout, timeout=30, what="late line")
    lines = c.kubectl("logs", "ticker", "--timestamps").stdout.splitlines()
    matched = [TIMESTAMPED.match(line) for line in lines]
    assert all(matched), lines
    assert [m[1] for m in matched if m] == ["early", "warn", "late"]
    # The lines are 3 s apart: --since=2s keeps only the late one.
    assert c.kubectl("logs", "ticker", "--since=2s").stdout == "late\n"
    c.kubectl("delete", "pod", "ticker", "--grace-period=0", "--force")


def test_kubectl_run_interactive_and_attach(nodes_cluster):
    """`kubectl run -i --rm` attaches to the container's stdin/stdout and deletes the pod after;
    `kubectl attach` follows a running container's output."""
    c = nodes_cluster
    out = c.kubectl("run", "talk", "-i", "--rm", "--restart=Never", "--image=busybox", "--",
                    "sh", "-c", "read x; echo got $x", input="hello\n", timeout=60)
    assert "got hello" in out.stdout, out
    wait_for(lambda: "talk" not in c.kubectl("get", "pods").stdout, what="talk pod deleted")
    c.kubectl("run", "counter", "--image=busybox", "--restart=Never", "--",
              "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")
    c.kubectl("wait", "--for=condition=Ready", "pod/counter", "--timeout=30s")
    attached = subprocess.Popen(["kubectl", "--kubeconfig", str(c.kubeconfig), "attach", "counter"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = [attached.stdout.readline() for _ in range(3)]  # type: ignore[union-attr]
    finally:
        attached.kill()
        attached.wait()
    numbers = [int(line.split()[1]) for line in seen]
    assert numbers == list(range(numbers[0], numbers[0] + 3)), seen  # live, in order
    c.kubectl("delete", "pod", "counter", "--grace-period=0", "--force")


def test_kubectl_run_with_a_terminal(nodes_cluster):
    """`kubectl run -it ... -- sh`: the container gets a terminal (tty: true), kubectl attaches
    to it. `script` gives kubectl the terminal a user's shell would."""
    c = nodes_cluster
    require(shutil.which("script") is not None, "script (util-linux) is not installed")
    command = (f"kubectl --kubeconfig {c.kubeconfig} run shell -it --rm --restart=Never --image=busybox -- "
               "sh -c 'tty; read x; echo got-$x'")
    proc = subprocess.Popen(["script", "-qfec", command, "/dev/null"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # Typed only once the container runs; its first output may be gone by then, as in Kubernetes.
        wait_for(lambda: "Running" in c.kubectl("get", "pod", "shell", check=False).stdout, what="shell running")
        time.sleep(1)
        out, _ = proc.communicate(b"typed\r", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.decode(errors="replace")
    assert "got-typed" in text, text
    wait_for(lambda: "shell" not in c.kubectl("get", "pods").stdout, what="shell pod deleted")


def test_service_env_for_pods_created_after_the_service(nodes_cluster, tmp_path):
    c = nodes_cluster
    svc = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: envsvc\nspec:\n  selector:\n    app: envsvc\n"
           "  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n")
    apply_manifest(c.kubectl, tmp_path, "envsvc-svc", svc)
    ip = c.kubectl("get", "svc", "envsvc", "-o", "jsonpath={.spec.clusterIP}").stdout
    apply_manifest(c.kubectl, tmp_path, "envsvc", rc_manifest("envsvc", 1))
    pod = wait_for(lambda: (lambda ps: ps and ready(ps[0]) and ps[0])(pods(c, "app=envsvc")), what="pod")
    env = c.kubectl("exec", pod["metadata"]["name"], "--", "env").stdout.splitlines()
    for expected in (f"ENVSVC_SERVICE_HOST={ip}", "ENVSVC_SERVICE_PORT=80", "ENVSVC_SERVICE_PORT_HTTP=80",
                     f"ENVSVC_PORT=tcp://{ip}:80", f"ENVSVC_PORT_80_TCP_ADDR={ip}", "ENVSVC_PORT_80_TCP_PROTO=tcp"):
        assert expected in env


def test_readiness_probe_only_touched_pod_becomes_ready(nodes_cluster, tmp_path):
    c = nodes_cluster
    apply_manifest(c.kubectl, tmp_path, "rdy", rc_manifest("rdy", 3, container=READINESS))
    running = wait_for(lambda: (lambda ps: len(ps) == 3 and all(p["status"].get("phase") == "Running" for p in ps)
                                and ps)(pods(c, "app=rdy")), what="3 running pods")
    time.sleep(2.5)  # several probe periods
    assert not any(ready(p) for p in pods(c, "app=rdy"))
    chosen = running[0]["metadata"]["name"]
    c.kubectl("exec", chosen, "--", "touch", "/var/ready")
    wait_for(lambda: any(ready(p) for p in pods(c, "app=rdy")), timeout=10, what="touched pod ready")
    states = {p["metadata"]["name"]: ready(p) for p in pods(c, "app=rdy")}
    assert states == {n: n == chosen for n in states}
    row = c.kubectl("get", "pods", chosen).stdout.splitlines()[1].split()
    assert row[1:3] == ["1/1", "Running"]
    events = c.kubectl("describe", "pod", running[1]["metadata"]["name"]).stdout
    assert "Readiness probe failed" in events


def test_liveness_probe_restarts_container(nodes_cluster, tmp_path):
    c = nodes_cluster
    pod = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: unhealthy\nspec:\n  containers:\n"
           "  - name: kubia\n    image: luksa/kubia-unhealthy\n    livenessProbe:\n      periodSeconds: 1\n"
           "      failureThreshold: 1\n      httpGet:\n        path: /\n        port: 8080\n")
    apply_manifest(c.kubectl, tmp_path, "unhealthy", pod)
    wait_for(lambda: json.loads(c.kubectl("get", "pod", "unhealthy", "-o", "json").stdout)["status"]
             .get("containerStatuses", [{}])[0].get("restartCount", 0) >= 1, timeout=40, what="a restart")
    desc = c.kubectl("describe", "pod", "unhealthy").stdout
    assert "Liveness probe failed" in desc and "will be restarted" in desc
    c.kubectl("delete", "pod", "unhealthy", "--grace-period=1")


def test_crash_loop_backoff_and_missing_image(nodes_cluster, tmp_path):
    c = nodes_cluster
    apply_manifest(c.kubectl, tmp_path, "crash", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: crash\nspec:\n  containers:\n"
          "  - name: c\n    image: busybox\n    command: [sh, -c, 'echo dying; exit 1']\n")
    wait_for(lambda: "CrashLoopBackOff" in c.kubectl("get", "pod", "crash").stdout, what="CrashLoopBackOff")
    status = json.loads(c.kubectl("get", "pod", "crash", "-o", "json").stdout)["status"]["containerStatuses"][0]
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert "dying" in c.kubectl("logs", "crash", "--previous").stdout
    apply_manifest(c.kubectl, tmp_path, "noimage", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: noimage\nspec:\n  containers:\n"
          "  - name: c\n    image: nginx:1.25\n")
    wait_for(lambda: any(s in c.kubectl("get", "pod", "noimage").stdout for s in ("ErrImagePull", "ImagePullBackOff")),
             what="image pull error")
    assert "not in kubeloop's catalog" in c.kubectl("describe", "pod", "noimage").stdout
    c.kubectl("delete", "pod", "crash", "noimage", "--grace-period=0", "--force")


def test_kubectl_run_dnsutils(nodes_cluster):
    c = nodes_cluster
    out = c.kubectl("run", "dnsutils", "--image=tutum/dnsutils", "--command", "--", "sleep", "infinity").stdout
    assert "pod/dnsutils created" in out
    c.kubectl("wait", "--for=condition=Ready", "pod/dnsutils", "--timeout=30s")
    assert "nslookup" in c.kubectl("exec", "dnsutils", "--", "sh", "-c", "command -v nslookup").stdout


def test_node_stop_marks_node_not_ready_and_start_recovers(nodes_cluster):
    c = nodes_cluster
    kubeloop = [sys.executable, "-m", "kubeloop.cli", "--data-dir", str(c.data_dir)]

    def status() -> str:
        return subprocess.run([*kubeloop, "status"], check=True, capture_output=True, text=True).stdout

    assert re.search(r"node +node-2 +172\.30\.0\.11 +pods 10\.244\.1\.0/24 +agent running, proxy rules in sync",
                     status()), status()
    subprocess.run([*kubeloop, "node", "stop", "node-2"], check=True, capture_output=True)
    assert re.search(r"node +node-2 .* agent stopped", status()), status()
    wait_for(lambda: "node-2   NotReady" in c.kubectl("get", "nodes").stdout, timeout=30, what="node-2 NotReady")
    on_node2 = [p for p in pods(c, "app=kubia") if p["spec"]["nodeName"] == "node-2"]
    wait_for(lambda: not any(ready(p) for p in pods(c, "app=kubia") if p["spec"]["nodeName"] == "node-2"),
             timeout=30, what="node-2 pods not ready")
    for p in on_node2:
        r = subprocess.run(["curl", "-s", "-m", "2", f"http://{p['status']['podIP']}:8080"], capture_output=True)
        assert r.returncode != 0
    subprocess.run([*kubeloop, "node", "start", "node-2"], check=True, capture_output=True)
    wait_for(lambda: "node-2   Ready" in c.kubectl("get", "nodes").stdout, timeout=30, what="node-2 Ready again")
    wait_for(lambda: all(ready(p) for p in pods(c, "app=kubia")), timeout=30, what="kubia pods ready again")


TOLERATE_2S = """\
      tolerations:
      - key: node.kubernetes.io/unreachable
        operator: Exists
        effect: NoExecute
        tolerationSeconds: 2
"""


def test_pods_on_a_dead_node_are_evicted_and_replaced(nodes_cluster, tmp_path):
    """Taint-based eviction: every pod tolerates an unreachable node for 300 s by default;
    these tolerate it for 2 s, so they are deleted 2 s after node-2 is tainted and their RC
    replaces them on node-1. They stay Terminating until node-2's agent returns."""
    c = nodes_cluster
    kubeloop = [sys.executable, "-m", "kubeloop.cli", "--data-dir", str(c.data_dir)]
    # Cordoned: the scheduler keeps new pods off node-1 (the unschedulable taint shows it).
    c.kubectl("cordon", "node-1")
    try:
        wait_for(lambda: "node.kubernetes.io/unschedulable:NoSchedule" in c.kubectl("describe", "node", "node-1").stdout,
                 what="unschedulable taint")
        apply_manifest(c.kubectl, tmp_path, "evict", rc_manifest("evict", 2, pod_spec=TOLERATE_2S))
        first = wait_for(lambda: (lambda ps: len(ps) == 2 and all(ready(p) for p in ps) and ps)(pods(c, "app=evict")),
                         what="2 ready pods")
    finally:
        c.kubectl("uncordon", "node-1")
    assert {p["spec"]["nodeName"] for p in first} == {"node-2"}
    # Admission added the default 300 s toleration of not-ready, kept the pod's own for unreachable.
    tolerations = {(t["key"], t.get("tolerationSeconds")) for t in first[0]["spec"]["tolerations"]}
    assert tolerations == {("node.kubernetes.io/unreachable", 2), ("node.kubernetes.io/not-ready", 300)}
    old = {p["metadata"]["name"] for p in first}
    subprocess.run([*kubeloop, "node", "stop", "node-2"], check=True, capture_output=True)
    try:
        wait_for(lambda: "node.kubernetes.io/unreachable:NoExecute" in c.kubectl("describe", "node", "node-2").stdout,
                 what="unreachable taint on node-2")

        def replaced() -> list[dict] | None:
            ps = pods(c, "app=evict")
            new = [p for p in ps if p["metadata"]["name"] not in old]
            return new if len(new) == 2 and all(ready(p) for p in new) else None
        new = wait_for(replaced, timeout=40, what="2 replacement pods ready")
        assert {p["spec"]["nodeName"] for p in new} == {"node-1"}
        gone = [p for p in pods(c, "app=evict") if p["metadata"]["name"] in old]
        for p in gone:
            assert p["metadata"].get("deletionTimestamp")
            target = next(x for x in p["status"]["conditions"] if x["type"] == "DisruptionTarget")
            assert (target["status"], target["reason"]) == ("True", "DeletionByTaintManager")
        events = c.kubectl("get", "events", "--field-selector", "reason=TaintManagerEviction").stdout
        assert all(name in events for name in old)
        assert "Terminating" in c.kubectl("get", "pods", "-l", "app=evict").stdout
    finally:
        subprocess.run([*kubeloop, "node", "start", "node-2"], check=True, capture_output=True)
    wait_for(lambda: "node-2   Ready" in c.kubectl("get", "nodes").stdout, timeout=30, what="node-2 Ready again")
    # node-2's agent finishes the deletions it missed.
    wait_for(lambda: not old & {p["metadata"]["name"] for p in pods(c, "app=evict")}, timeout=30,
             what="evicted pods removed")
    assert "node.kubernetes.io/unreachable" not in c.kubectl("describe", "node", "node-2").stdout
    c.kubectl("delete", "rc", "evict")


def test_endpoints_follow_pods_and_readiness(nodes_cluster, tmp_path):
    """E1: `kubectl get endpoints` and `describe svc` show the ready pods, kept current."""
    c = nodes_cluster
    apply_manifest(c.kubectl, tmp_path, "epr", rc_manifest("epr", 3, container=READINESS))
    svc = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: epr\nspec:\n  selector:\n    app: epr\n"
           "  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n")
    apply_manifest(c.kubectl, tmp_path, "epr-svc", svc)
    running = wait_for(lambda: (lambda ps: len(ps) == 3 and all(p["status"].get("podIP") for p in ps) and ps)(
        pods(c, "app=epr")), what="3 epr pods with addresses")
    first = running[0]
    c.kubectl("exec", first["metadata"]["name"], "--", "touch", "/var/ready")
    wait_for(lambda: any(ready(p) for p in pods(c, "app=epr")), what="a ready epr pod")
    ip = first["status"]["podIP"]
    ep = wait_for(lambda: (lambda e: e.get("subsets") and e["subsets"][0].get("addresses") and e)(
        json.loads(c.kubectl("get", "endpoints", "epr", "-o", "json").stdout)), what="endpoints")
    assert [a["ip"] for a in ep["subsets"][0]["addresses"]] == [ip]
    assert ep["subsets"][0]["addresses"][0]["targetRef"]["name"] == first["metadata"]["name"]
    assert len(ep["subsets"][0]["notReadyAddresses"]) == 2
    assert ep["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    row = c.kubectl("get", "endpoints", "epr").stdout.splitlines()[1].split()
    assert row[1] == f"{ip}:8080"
    desc = c.kubectl("describe", "svc", "epr").stdout
    assert f"Endpoints:                {ip}:8080" in desc
    slices = json.loads(c.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=epr",
                                  "-o", "json").stdout)["items"]
    assert sorted(e["addresses"][0] for s in slices for e in s["endpoints"] if e["conditions"]["ready"]) == [ip]
    # Another pod turns ready: it joins; a deleted pod leaves.
    second = running[1]
    c.kubectl("exec", second["metadata"]["name"], "--", "touch", "/var/ready")
    wait_for(lambda: second["status"]["podIP"] in c.kubectl("get", "endpoints", "epr").stdout, what="endpoint added")
    c.kubectl("delete", "pod", first["metadata"]["name"], "--wait=false")
    wait_for(lambda: f"{ip}:8080" not in c.kubectl("get", "endpoints", "epr").stdout, what="endpoint removed")


def test_service_without_selector_uses_manual_endpoints(nodes_cluster, tmp_path):
    """E2: no endpoints until the user writes them; they are mirrored to an EndpointSlice."""
    c = nodes_cluster
    apply_manifest(c.kubectl, tmp_path, "ext-svc", "apiVersion: v1\nkind: Service\nmetadata:\n  name: external-service\nspec:\n"
          "  ports:\n  - port: 80\n")
    assert c.kubectl("get", "endpoints", "external-service", check=False).returncode == 1
    apply_manifest(c.kubectl, tmp_path, "ext-ep", "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: external-service\nsubsets:\n"
          "  - addresses:\n    - ip: 172.30.0.1\n    ports:\n    - port: 18080\n")
    slices = wait_for(lambda: json.loads(c.kubectl(
        "get", "endpointslices", "-l", "kubernetes.io/service-name=external-service", "-o", "json").stdout)["items"],
        what="mirrored slice")
    assert slices[0]["endpoints"][0]["addresses"] == ["172.30.0.1"]
    assert slices[0]["ports"][0]["port"] == 18080
    loop = tmp_path / "loop.yaml"
    loop.write_text("apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: loopy\nsubsets:\n  - addresses:\n"
                    "    - ip: 127.0.0.1\n    ports:\n    - port: 80\n")
    out = c.kubectl("apply", "-f", str(loop), check=False)
    assert out.returncode == 1 and "subsets[0].addresses[0].ip" in out.stderr and "loopback" in out.stderr


def test_lifecycle_hooks(nodes_cluster, tmp_path):
    c = nodes_cluster
    apply_manifest(c.kubectl, tmp_path, "hooks", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: hooks\nspec:\n  containers:\n"
          "  - name: c\n    image: busybox\n    command: [sleep, infinity]\n    lifecycle:\n      postStart:\n"
          "        exec:\n          command: [touch, /tmp/started]\n")
    c.kubectl("wait", "--for=condition=Ready", "pod/hooks", "--timeout=30s")
    wait_for(lambda: c.kubectl("exec", "hooks", "--", "ls", "/tmp/started", check=False).returncode == 0,
             what="postStart hook ran")
    apply_manifest(c.kubectl, tmp_path, "badhook", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: badhook\nspec:\n  containers:\n"
          "  - name: c\n    image: busybox\n    command: [sleep, infinity]\n    lifecycle:\n      postStart:\n"
          "        exec:\n          command: [sh, -c, 'exit 2']\n")
    wait_for(lambda: "FailedPostStartHook" in c.kubectl("describe", "pod", "badhook").stdout, what="hook failure")
    c.kubectl("delete", "pod", "hooks", "badhook", "--grace-period=0", "--force")
