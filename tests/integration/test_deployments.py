"""Deployments through the real kubectl: ReplicaSets by template hash, revisions, rollout
history/undo/restart, scale, pause, Recreate, progress deadlines.

The first tests run on `kubeloop up --nodes 0`, where pods stay Pending: rollouts stop exactly
where maxSurge/maxUnavailable leave them. The root tests at the end run a two-node cluster where
kubia pods become Ready, so `kubectl rollout status` completes and rollouts really roll over.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from typing import Iterator

import pytest

from conftest import RunningCluster, apply_manifest, require, start_cluster, stop_cluster, wait_for

REVISION = "deployment.kubernetes.io/revision"


def deployment_yaml(name: str, replicas: int, *, strategy: str = "", spec: str = "", image: str = "luksa/kubia") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
{spec}{strategy}  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: kubia
        image: {image}
"""



def get(kubectl, *args: str) -> dict:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def replicasets(kubectl, app: str) -> dict[str, dict]:
    """ReplicaSets of an app by name."""
    return {r["metadata"]["name"]: r for r in get(kubectl, "rs", "-l", f"app={app}")["items"]}


def sizes(kubectl, app: str) -> dict[str, int]:
    return {n: r["spec"]["replicas"] for n, r in replicasets(kubectl, app).items()}


def pods_of(kubectl, app: str) -> list[dict]:
    return get(kubectl, "pods", "-l", f"app={app}")["items"]


def image_of(rs: dict) -> str:
    return rs["spec"]["template"]["spec"]["containers"][0]["image"]


def by_image(kubectl, app: str) -> dict[str, dict]:
    return {image_of(r): r for r in replicasets(kubectl, app).values()}


def history(kubectl, name: str) -> list[str]:
    out = kubectl("rollout", "history", f"deployment/{name}").stdout
    return [line.split(None, 1)[0] for line in out.splitlines()[2:] if line.strip()]


def scaling_events(kubectl, name: str) -> list[str]:
    items = get(kubectl, "events", "--field-selector", f"involvedObject.name={name}")["items"]
    items.sort(key=lambda e: int(e["metadata"]["resourceVersion"]))
    return [e["message"] for e in items if e["reason"] == "ScalingReplicaSet"]


# -- pods stay Pending (--nodes 0) ----------------------------------------------------------------

def test_create_deployment_makes_a_hashed_replicaset(kubectl):
    kubectl("create", "deployment", "web", "--image=luksa/kubia", "--replicas=4")
    wait_for(lambda: len(pods_of(kubectl, "web")) == 4, what="4 pods")
    d = get(kubectl, "deployment", "web")
    (rs,) = replicasets(kubectl, "web").values()
    h = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": h}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": h}
    ref = rs["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("Deployment", "web", d["metadata"]["uid"], True)
    ann = rs["metadata"]["annotations"]
    assert (ann[REVISION], ann["deployment.kubernetes.io/desired-replicas"],
            ann["deployment.kubernetes.io/max-replicas"]) == ("1", "4", "5")
    for p in pods_of(kubectl, "web"):
        assert p["metadata"]["labels"]["pod-template-hash"] == h
        assert p["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]
    d = wait_for(lambda: (lambda d: d["status"].get("replicas") == 4 and d)(get(kubectl, "deployment", "web")),
                 what="status")
    assert d["metadata"]["annotations"][REVISION] == "1"
    st = d["status"]
    assert (st["updatedReplicas"], st["unavailableReplicas"], st["observedGeneration"]) == (4, 4, 1)
    assert "availableReplicas" not in st and "readyReplicas" not in st
    conds = {c["type"]: (c["status"], c["reason"]) for c in st["conditions"]}
    assert conds["Available"] == ("False", "MinimumReplicasUnavailable")
    assert conds["Progressing"][0] == "True" and conds["Progressing"][1] in ("NewReplicaSetCreated", "ReplicaSetUpdated")
    row = kubectl("get", "deployment", "web").stdout.splitlines()[1].split()
    assert row[:4] == ["web", "0/4", "4", "0"]
    out = kubectl("rollout", "status", "deployment/web", "--timeout=1s", check=False)
    assert out.returncode != 0
    assert 'Waiting for deployment "web" rollout to finish: 0 of 4 updated replicas are available...' in out.stdout


def test_rolling_update_stops_where_surge_and_unavailability_allow(kubectl):
    # 4 replicas, 25%/25%: one pod over, one unavailable. Nothing becomes ready, so the rollout
    # stops with the new ReplicaSet at 2 and the old one at 3, as in Kubernetes.
    kubectl("set", "image", "deployment/web", "kubia=luksa/kubia:v2")
    wait_for(lambda: sorted(sizes(kubectl, "web").values()) == [2, 3], what="3 old + 2 new")
    time.sleep(1)
    rss = by_image(kubectl, "web")
    assert (rss["luksa/kubia"]["spec"]["replicas"], rss["luksa/kubia:v2"]["spec"]["replicas"]) == (3, 2)
    assert len(pods_of(kubectl, "web")) == 5
    new = rss["luksa/kubia:v2"]
    assert new["metadata"]["annotations"][REVISION] == "2"
    assert new["metadata"]["name"] != rss["luksa/kubia"]["metadata"]["name"]
    assert get(kubectl, "deployment", "web")["metadata"]["annotations"][REVISION] == "2"
    assert history(kubectl, "web") == ["1", "2"]
    assert "luksa/kubia:v2" in kubectl("rollout", "history", "deployment/web", "--revision=2").stdout
    events = scaling_events(kubectl, "web")
    assert events[1] == f"Scaled up replica set {new['metadata']['name']} from 0 to 1"
    assert f"Scaled down replica set {rss['luksa/kubia']['metadata']['name']} from 4 to 3" in events
    out = kubectl("rollout", "status", "deployment/web", "--timeout=1s", check=False).stdout
    assert 'Waiting for deployment "web" rollout to finish: 2 out of 4 new replicas have been updated...' in out


def test_scale_during_a_rollout_is_proportional(kubectl):
    kubectl("scale", "deployment", "web", "--replicas=8")
    # Room for 8 + 2: 3 and 2 become 6 and 4.
    wait_for(lambda: sorted(sizes(kubectl, "web").values()) == [4, 6], what="proportional scale-up")
    rss = by_image(kubectl, "web")
    assert (rss["luksa/kubia"]["spec"]["replicas"], rss["luksa/kubia:v2"]["spec"]["replicas"]) == (6, 4)
    for r in rss.values():
        assert r["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "8"
        assert r["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "10"
    wait_for(lambda: len(pods_of(kubectl, "web")) == 10, what="10 pods")
    d = wait_for(lambda: (lambda d: d["status"].get("observedGeneration") == d["metadata"]["generation"] and d)(
        get(kubectl, "deployment", "web")), what="observed generation")
    assert d["status"]["replicas"] == 10


def test_rollout_undo_brings_the_previous_template_back(kubectl):
    out = kubectl("rollout", "undo", "deployment/web").stdout
    assert "rolled back" in out
    wait_for(lambda: by_image(kubectl, "web")["luksa/kubia"]["metadata"]["annotations"][REVISION] == "3",
             what="revision 3")
    d = get(kubectl, "deployment", "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "luksa/kubia"
    assert "pod-template-hash" not in d["spec"]["template"]["metadata"]["labels"]
    rss = by_image(kubectl, "web")
    assert len(rss) == 2   # the old ReplicaSet is the new one again, nothing was created
    assert rss["luksa/kubia"]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    wait_for(lambda: get(kubectl, "deployment", "web")["metadata"]["annotations"][REVISION] == "3",
             what="deployment revision 3")
    assert history(kubectl, "web") == ["2", "3"]
    out = kubectl("rollout", "undo", "deployment/web", "--to-revision=3").stdout
    assert "skipped rollback (current template already matches revision 3)" in out


def test_change_cause_pause_and_resume(kubectl):
    kubectl("annotate", "deployment", "web", "kubernetes.io/change-cause=back to v1")
    wait_for(lambda: "back to v1" in kubectl("rollout", "history", "deployment/web").stdout, what="change cause")
    kubectl("rollout", "pause", "deployment/web")
    kubectl("set", "image", "deployment/web", "kubia=luksa/kubia:v3")
    wait_for(lambda: (lambda c: c and c["reason"] == "DeploymentPaused" and c["status"] == "Unknown")(next(
        (c for c in get(kubectl, "deployment", "web")["status"].get("conditions", []) if c["type"] == "Progressing"),
        None)), what="paused condition")
    kubectl("scale", "deployment", "web", "--replicas=4")   # a paused Deployment still scales
    wait_for(lambda: sum(sizes(kubectl, "web").values()) == 5, what="scaled while paused")
    assert "luksa/kubia:v3" not in by_image(kubectl, "web")  # but does not roll out
    out = kubectl("rollout", "undo", "deployment/web", check=False)
    assert out.returncode != 0 and "you cannot rollback a paused deployment" in out.stderr
    kubectl("rollout", "resume", "deployment/web")
    wait_for(lambda: "luksa/kubia:v3" in by_image(kubectl, "web"), what="v3 ReplicaSet after resume")
    assert by_image(kubectl, "web")["luksa/kubia:v3"]["metadata"]["annotations"][REVISION] == "4"
    kubectl("delete", "deployment", "web")
    wait_for(lambda: not replicasets(kubectl, "web") and not pods_of(kubectl, "web"), what="cascade")


def test_recreate_restart_and_history_limit(kubectl, tmp_path):
    apply_manifest(kubectl, tmp_path, "rec", deployment_yaml("rec", 2, strategy="  strategy:\n    type: Recreate\n",
                                                      spec="  revisionHistoryLimit: 1\n"))
    wait_for(lambda: len(pods_of(kubectl, "rec")) == 2, what="2 pods")
    (first,) = replicasets(kubectl, "rec")
    kubectl("rollout", "restart", "deployment/rec")
    # Recreate: old pods go first, then the new ReplicaSet gets all of them, unready or not.
    wait_for(lambda: (lambda s: len(s) == 2 and sorted(s.values()) == [0, 2])(sizes(kubectl, "rec")),
             what="recreated")
    (second,) = [n for n in replicasets(kubectl, "rec") if n != first]
    template = replicasets(kubectl, "rec")[second]["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    wait_for(lambda: {p["metadata"]["ownerReferences"][0]["name"] for p in pods_of(kubectl, "rec")} == {second},
             what="only new pods")
    assert scaling_events(kubectl, "rec") == [
        f"Scaled up replica set {first} from 0 to 2",
        f"Scaled down replica set {first} from 2 to 0",
        f"Scaled up replica set {second} from 0 to 2",
    ]
    assert history(kubectl, "rec") == ["1", "2"]
    # A third template: revisionHistoryLimit 1 keeps one old ReplicaSet, the newest. As in
    # Kubernetes, old ReplicaSets are pruned once a rollout completes or while paused.
    kubectl("set", "image", "deployment/rec", "kubia=luksa/kubia:v2")
    wait_for(lambda: sorted(sizes(kubectl, "rec").values()) == [0, 0, 2], what="third ReplicaSet")
    kubectl("rollout", "pause", "deployment/rec")
    wait_for(lambda: first not in sizes(kubectl, "rec") and len(sizes(kubectl, "rec")) == 2,
             what="oldest revision pruned")
    assert history(kubectl, "rec") == ["2", "3"]


def test_progress_deadline_exceeded(kubectl, tmp_path):
    apply_manifest(kubectl, tmp_path, "slow", deployment_yaml("slow", 1, spec="  progressDeadlineSeconds: 1\n"))
    out = kubectl("rollout", "status", "deployment/slow", "--timeout=20s", check=False)
    assert out.returncode != 0 and 'deployment "slow" exceeded its progress deadline' in out.stderr
    cond = next(c for c in get(kubectl, "deployment", "slow")["status"]["conditions"] if c["type"] == "Progressing")
    assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert cond["message"].startswith('ReplicaSet "slow-') and cond["message"].endswith('" has timed out progressing.')


def test_orphaned_replicaset_is_adopted_by_a_new_deployment(kubectl, tmp_path):
    apply_manifest(kubectl, tmp_path, "adopt", deployment_yaml("adopt", 2))
    wait_for(lambda: len(pods_of(kubectl, "adopt")) == 2, what="2 pods")
    (name,) = replicasets(kubectl, "adopt")
    kubectl("delete", "deployment", "adopt", "--cascade=orphan")
    wait_for(lambda: not replicasets(kubectl, "adopt")[name]["metadata"].get("ownerReferences"), what="orphaned")
    apply_manifest(kubectl, tmp_path, "adopt", deployment_yaml("adopt", 2))
    uid = get(kubectl, "deployment", "adopt")["metadata"]["uid"]
    rs = wait_for(lambda: (lambda r: r["metadata"].get("ownerReferences") and r)(replicasets(kubectl, "adopt")[name]),
                  what="adopted")
    assert rs["metadata"]["ownerReferences"][0]["uid"] == uid
    time.sleep(0.5)
    assert list(replicasets(kubectl, "adopt")) == [name]   # the same template: no new ReplicaSet
    assert len(pods_of(kubectl, "adopt")) == 2
    kubectl("delete", "deployment", "adopt")


# -- pods that run and become Ready (root, two nodes) ------------------------------------------------

@pytest.fixture(scope="module")
def nodes_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    require(os.geteuid() == 0, "needs root for network namespaces")
    require(shutil.which("kubectl") is not None, "kubectl is not installed")
    require(shutil.which("ip") is not None, "iproute2 is not installed")
    c = start_cluster(tmp_path_factory.mktemp("kubeloop-deploy"), "--nodes", "2")
    yield c
    stop_cluster(c)


class PodWatch:
    """`kubectl get pods -w` in the background: the most pods alive at once and the fewest ready."""

    def __init__(self, c: RunningCluster, selector: str) -> None:
        self.proc = subprocess.Popen(
            ["kubectl", "--kubeconfig", str(c.kubeconfig), "--cache-dir", str(c.cache_dir), "get", "pods",
             "-l", selector, "-w", "--output-watch-events", "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def stop(self) -> list[dict]:
        time.sleep(0.5)
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        decoder, events, i = json.JSONDecoder(), [], 0
        while True:
            while i < len(out) and out[i].isspace():
                i += 1
            if i >= len(out):
                return events
            event, i = decoder.raw_decode(out, i)
            events.append(event)


def replay(events: list[dict]) -> tuple[int, int]:
    """(most pods alive at once, fewest Ready alive pods once the first three were ready)."""
    alive: dict[str, dict] = {}
    most, fewest_ready, started = 0, 99, False
    for e in events:
        pod = e["object"]
        name = pod["metadata"]["name"]
        if e["type"] == "DELETED" or pod["metadata"].get("deletionTimestamp"):
            alive.pop(name, None)
        else:
            alive[name] = pod
        ready = sum(1 for p in alive.values()
                    if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", [])))
        started = started or ready >= 3
        most = max(most, len(alive))
        if started:
            fewest_ready = min(fewest_ready, ready)
    return most, fewest_ready


def ready_pods(c: RunningCluster, app: str) -> list[dict]:
    return [p for p in pods_of(c.kubectl, app) if not p["metadata"].get("deletionTimestamp")]


@pytest.mark.root
def test_rollout_on_nodes_surge_undo_restart(nodes_cluster):
    c = nodes_cluster
    k = c.kubectl
    k("create", "deployment", "kubia", "--image=luksa/kubia", "--replicas=3")
    out = k("rollout", "status", "deployment/kubia", "--timeout=60s").stdout
    assert 'deployment "kubia" successfully rolled out' in out
    d = get(k, "deployment", "kubia")
    st = d["status"]
    assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"]) == (3, 3, 3, 3)
    conds = {x["type"]: (x["status"], x["reason"]) for x in st["conditions"]}
    assert conds == {"Available": ("True", "MinimumReplicasAvailable"),
                     "Progressing": ("True", "NewReplicaSetAvailable")}
    assert k("get", "deployment", "kubia").stdout.splitlines()[1].split()[:4] == ["kubia", "3/3", "3", "3"]
    first = {p["metadata"]["name"] for p in ready_pods(c, "kubia")}
    assert len(first) == 3

    # New image: 25% of 3 is one extra pod and none unavailable.
    watch = PodWatch(c, "app=kubia")
    time.sleep(0.3)
    k("set", "image", "deployment/kubia", "kubia=luksa/kubia:v2")
    out = k("rollout", "status", "deployment/kubia", "--timeout=60s").stdout
    assert 'deployment "kubia" successfully rolled out' in out
    most, fewest_ready = replay(watch.stop())
    assert most == 4, f"{most} pods at once"  # one extra pod (and the watch saw it)
    assert fewest_ready >= 3, f"only {fewest_ready} ready during the rollout"
    rss = by_image(k, "kubia")
    assert (rss["luksa/kubia"]["spec"]["replicas"], rss["luksa/kubia:v2"]["spec"]["replicas"]) == (0, 3)
    new_hash = rss["luksa/kubia:v2"]["metadata"]["labels"]["pod-template-hash"]
    wait_for(lambda: {p["metadata"]["labels"]["pod-template-hash"] for p in pods_of(k, "kubia")} == {new_hash},
             timeout=40, what="old pods removed")
    second = {p["metadata"]["name"] for p in ready_pods(c, "kubia")}
    assert not first & second
    assert history(k, "kubia") == ["1", "2"]

    # Undo: the first ReplicaSet takes over again.
    k("rollout", "undo", "deployment/kubia")
    k("rollout", "status", "deployment/kubia", "--timeout=60s")
    rss = by_image(k, "kubia")
    assert (rss["luksa/kubia"]["spec"]["replicas"], rss["luksa/kubia:v2"]["spec"]["replicas"]) == (3, 0)
    old_hash = rss["luksa/kubia"]["metadata"]["labels"]["pod-template-hash"]
    assert rss["luksa/kubia"]["metadata"]["annotations"][REVISION] == "3"
    wait_for(lambda: {p["metadata"]["labels"]["pod-template-hash"] for p in pods_of(k, "kubia")} == {old_hash},
             timeout=40, what="v2 pods removed")
    assert all(p["spec"]["containers"][0]["image"] == "luksa/kubia" for p in pods_of(k, "kubia"))

    # Restart: every pod is replaced.
    before = {p["metadata"]["name"] for p in ready_pods(c, "kubia")}
    k("rollout", "restart", "deployment/kubia")
    k("rollout", "status", "deployment/kubia", "--timeout=60s")
    after = wait_for(lambda: (lambda ps: len(ps) == 3 and all(
        "kubectl.kubernetes.io/restartedAt" in (p["metadata"].get("annotations") or {}) for p in ps) and ps)(
        pods_of(k, "kubia")), timeout=40, what="restarted pods only")
    assert not before & {p["metadata"]["name"] for p in after}
    assert history(k, "kubia") == ["2", "3", "4"]
    k("delete", "deployment", "kubia")
