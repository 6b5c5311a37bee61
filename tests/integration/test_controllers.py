"""Controllers through the real kubectl: replication (RC, RS) and the scheduler's verdict
when no node can take a pod. (Pods running on nodes are tested in test_pods.py.)"""

from __future__ import annotations

import json
import time

from conftest import rc_manifest, wait_for

NOWHERE = "      nodeSelector:\n        kubeloop.test/nowhere: \"true\"\n"


def rc_nowhere(name: str, replicas: int) -> str:
    return rc_manifest(name, replicas, pod_spec=NOWHERE)


def pods_of(kubectl, app: str) -> list[dict]:
    return json.loads(kubectl("get", "pods", "-l", f"app={app}", "-o", "json").stdout)["items"]


def test_replication_controller_creates_scales_and_cascades(kubectl, tmp_path):
    f = tmp_path / "rc.yaml"
    f.write_text(rc_nowhere("repl", 3))
    kubectl("apply", "-f", str(f))
    pods = wait_for(lambda: len(pods_of(kubectl, "repl")) == 3 and pods_of(kubectl, "repl"), what="3 pods")
    for p in pods:
        assert p["metadata"]["name"].startswith("repl-")
        ref = p["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["controller"]) == ("ReplicationController", "repl", True)
        assert p["status"]["phase"] == "Pending"
    # Nothing can be placed: the scheduler says why, as Kubernetes does.
    cond = wait_for(lambda: next((c for c in pods_of(kubectl, "repl")[0]["status"].get("conditions", [])
                                  if c["type"] == "PodScheduled"), None), what="PodScheduled condition")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert cond["message"].startswith("0/")
    row = kubectl("get", "rc", "repl").stdout.splitlines()[1].split()
    assert row[:4] == ["repl", "3", "3", "0"]
    kubectl("scale", "rc", "repl", "--replicas=1")
    wait_for(lambda: len(pods_of(kubectl, "repl")) == 1, what="scale down to 1")
    # A deleted pod is replaced.
    victim = pods_of(kubectl, "repl")[0]["metadata"]["name"]
    kubectl("delete", "pod", victim, "--wait=false")
    wait_for(lambda: [p["metadata"]["name"] for p in pods_of(kubectl, "repl")] not in ([], [victim]),
             what="replacement pod")
    kubectl("delete", "rc", "repl")
    wait_for(lambda: pods_of(kubectl, "repl") == [], what="pods garbage-collected")


def test_replicaset_and_orphan_adoption(kubectl, tmp_path):
    rs = rc_nowhere("rset", 2).replace("apiVersion: v1\nkind: ReplicationController",
                                                   "apiVersion: apps/v1\nkind: ReplicaSet")
    rs = rs.replace("  selector:\n    app: rset", "  selector:\n    matchLabels:\n      app: rset")
    f = tmp_path / "rs.yaml"
    f.write_text(rs)
    kubectl("apply", "-f", str(f))
    wait_for(lambda: len(pods_of(kubectl, "rset")) == 2, what="2 pods")
    kubectl("delete", "rs", "rset", "--cascade=orphan")
    time.sleep(0.5)
    orphans = pods_of(kubectl, "rset")
    assert len(orphans) == 2 and all(not p["metadata"].get("ownerReferences") for p in orphans)
    kubectl("apply", "-f", str(f))
    adopted = wait_for(lambda: all(p["metadata"].get("ownerReferences") for p in pods_of(kubectl, "rset"))
                       and pods_of(kubectl, "rset"), what="adoption")
    assert len(adopted) == 2
    kubectl("delete", "rs", "rset")
    wait_for(lambda: pods_of(kubectl, "rset") == [], what="pods garbage-collected")


def test_loadbalancer_gets_external_ip_and_releases_it(kubectl, tmp_path):
    f = tmp_path / "lb.yaml"
    f.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: lb\nspec:\n  type: LoadBalancer\n"
                 "  selector:\n    app: lb\n  ports:\n  - port: 80\n    targetPort: 8080\n")
    kubectl("apply", "-f", str(f))
    ip = wait_for(lambda: kubectl("get", "svc", "lb", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}").stdout,
                  what="external IP")
    row = kubectl("get", "svc", "lb").stdout.splitlines()[1].split()
    assert row[3] == ip and row[4].startswith("80:3")
    # A second service asking for the same address is refused with an event; a free one is honoured.
    g = tmp_path / "lb2.yaml"
    g.write_text(f.read_text().replace("name: lb", "name: lb2").replace("type: LoadBalancer",
                                                                        f"type: LoadBalancer\n  loadBalancerIP: {ip}"))
    kubectl("apply", "-f", str(g))
    wait_for(lambda: "is already used by default/lb" in kubectl("describe", "svc", "lb2").stdout, what="event")
    assert kubectl("get", "svc", "lb2", "-o", "jsonpath={.status.loadBalancer.ingress}").stdout == ""
    kubectl("delete", "svc", "lb")
    wait_for(lambda: kubectl("get", "svc", "lb2", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}").stdout == ip,
             what="released address reused by the service that asked for it")
