"""The control plane through the real kubectl: every command a user types on day one.

One cluster (`kubeloop up`, TLS, client certificates) serves the whole module; each test
works in its own objects so the tests do not interfere.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import rc_manifest

SEED_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: kubia
spec:
  sessionAffinity: ClientIP
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: https
    port: 443
    targetPort: 8443
  selector:
    app: kubia
"""

def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_version_and_discovery(kubectl):
    out = kubectl("version").stdout
    assert "Server Version: v1.32.0" in out
    res = kubectl("api-resources").stdout
    for line in ("services                            svc", "replicationcontrollers              rc",
                 "deployments                         deploy       apps/v1", "endpointslices",
                 "ingresses                           ing          networking.k8s.io/v1"):
        assert any(line.split()[0] == row.split()[0] and all(w in row for w in line.split())
                   for row in res.splitlines()), line


def test_anonymous_requests_get_401(cluster):
    import ssl
    import urllib.error
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(cluster.data_dir / "pki" / "ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(cluster.server + "/api/v1/namespaces", context=ctx)
    assert e.value.code == 401
    assert json.loads(e.value.read())["reason"] == "Unauthorized"
    with urllib.request.urlopen(cluster.server + "/version", context=ctx) as r:
        assert json.loads(r.read())["minor"] == "32"


def test_seed_service_shows_cluster_ip_and_ports(kubectl, tmp_path):
    assert "service/kubia created" in kubectl("apply", "-f", write(tmp_path, "svc.yaml", SEED_SERVICE)).stdout
    out = kubectl("get", "svc", "kubia").stdout.splitlines()
    assert out[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    name, type_, ip, ext, ports, age = out[1].split()
    assert (name, type_, ext, ports) == ("kubia", "ClusterIP", "<none>", "80/TCP,443/TCP")
    assert ip.startswith("10.") and ip != "10.96.0.1"
    svc = json.loads(kubectl("get", "svc", "kubia", "-o", "json").stdout)
    assert svc["spec"]["sessionAffinity"] == "ClientIP"
    assert svc["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] == 10800
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == [8080, 8443]
    assert kubectl("get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}").stdout == "10.96.0.1"
    # A second apply of the same file changes nothing.
    assert "service/kubia unchanged" in kubectl("apply", "-f", str(tmp_path / "svc.yaml")).stdout


def test_apply_changed_file_then_server_side(kubectl, tmp_path):
    f = write(tmp_path, "a.yaml", SEED_SERVICE.replace("name: kubia", "name: applied", 1))
    kubectl("apply", "-f", f)
    changed = SEED_SERVICE.replace("name: kubia", "name: applied", 1).replace("port: 80\n", "port: 8081\n")
    Path(f).write_text(changed)
    assert "service/applied configured" in kubectl("apply", "-f", f).stdout
    ports = json.loads(kubectl("get", "svc", "applied", "-o", "json").stdout)["spec"]["ports"]
    assert [(p["name"], p["port"]) for p in ports] == [("http", 8081), ("https", 443)]
    assert "service/applied unchanged" in kubectl("apply", "-f", f).stdout
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", f).stdout
    ssa = write(tmp_path, "ssa.yaml", rc_manifest("ssa-rc", 0))
    assert "replicationcontroller/ssa-rc serverside-applied" in kubectl("apply", "--server-side", "-f", ssa).stdout


def test_get_output_formats(kubectl, tmp_path):
    kubectl("create", "-f", write(tmp_path, "rc.yaml", rc_manifest("fmt", 0)))
    assert kubectl("get", "rc", "fmt", "-o", "name").stdout.strip() == "replicationcontroller/fmt"
    doc = yaml.safe_load(kubectl("get", "rc", "fmt", "-o", "yaml").stdout)
    assert doc["kind"] == "ReplicationController" and doc["metadata"]["uid"]
    assert kubectl("get", "rc", "fmt", "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout == "luksa/kubia"
    cc = kubectl("get", "rc", "fmt", "-o", "custom-columns=N:.metadata.name,R:.spec.replicas").stdout.split()
    assert cc == ["N", "R", "fmt", "0"]
    wide = kubectl("get", "rc", "fmt", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1].split()[5:] == ["kubia", "luksa/kubia", "app=fmt"]
    allns = kubectl("get", "svc", "-A").stdout
    assert "NAMESPACE" in allns and "kubernetes" in allns
    kubectl("label", "rc", "fmt", "tier=web")
    assert kubectl("get", "rc", "-l", "tier=web", "-o", "name").stdout.strip() == "replicationcontroller/fmt"
    assert kubectl("get", "rc", "-l", "tier!=web", "-o", "name").stdout.strip() != "replicationcontroller/fmt"
    assert kubectl("get", "rc", "--field-selector", "metadata.name=fmt", "-o", "name").stdout.strip() \
        == "replicationcontroller/fmt"
    kubectl("annotate", "rc", "fmt", "note=hello")
    assert kubectl("get", "rc", "fmt", "-o", "jsonpath={.metadata.annotations.note}").stdout == "hello"
    assert "No resources found in default namespace." in kubectl("get", "secrets", "-l", "nope=nope").stderr


def test_watch_prints_changes(cluster, kubectl, tmp_path):
    kubectl("create", "configmap", "watched", "--from-literal=a=1")
    proc = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "--cache-dir", str(cluster.cache_dir),
         "get", "configmap", "watched", "-w", "-o", "jsonpath={.data.a}{\"\\n\"}"],
        stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        kubectl("patch", "configmap", "watched", "--type", "merge", "-p", '{"data":{"a":"2"}}')
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        # kubectl swallows the synthetic first event of a single-object watch, so the change shows.
        assert line in ("1", "2")
        if line == "1":
            assert proc.stdout.readline().strip() == "2"
    finally:
        proc.kill()
        proc.wait()


def test_create_replace_patch_conflict(kubectl, tmp_path):
    f = write(tmp_path, "rc.yaml", rc_manifest("rep", 0))
    assert "replicationcontroller/rep created" in kubectl("create", "-f", f).stdout
    dup = kubectl("create", "-f", f, check=False)
    assert dup.returncode == 1 and 'replicationcontrollers "rep" already exists' in dup.stderr
    live = yaml.safe_load(kubectl("get", "rc", "rep", "-o", "yaml").stdout)
    live["spec"]["replicas"] = 0
    live["metadata"]["labels"] = {"x": "z"}
    stale = dict(live, metadata=dict(live["metadata"], resourceVersion="1"))
    kubectl("replace", "-f", write(tmp_path, "live.yaml", yaml.safe_dump(live)))
    conflict = kubectl("replace", "-f", write(tmp_path, "stale.yaml", yaml.safe_dump(stale)), check=False)
    assert conflict.returncode == 1 and "Conflict" in conflict.stderr and "the object has been modified" in conflict.stderr
    kubectl("patch", "rc", "rep", "-p", '{"metadata":{"labels":{"strategic":"yes"}}}')
    kubectl("patch", "rc", "rep", "--type", "merge", "-p", '{"metadata":{"labels":{"merge":"yes"}}}')
    kubectl("patch", "rc", "rep", "--type", "json", "-p", '[{"op":"add","path":"/metadata/labels/json","value":"yes"}]')
    labels = json.loads(kubectl("get", "rc", "rep", "-o", "jsonpath={.metadata.labels}").stdout)
    assert labels == {"x": "z", "strategic": "yes", "merge": "yes", "json": "yes"}


def test_invalid_manifests_get_field_errors(kubectl, tmp_path):
    bad = SEED_SERVICE.replace("name: kubia", "name: bad-ports", 1).replace("port: 80\n", "port: 70000\n")
    out = kubectl("apply", "-f", write(tmp_path, "bad.yaml", bad), check=False)
    assert out.returncode == 1
    assert 'The Service "bad-ports" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive' in out.stderr
    unknown = SEED_SERVICE.replace("name: kubia", "name: unknown-field", 1).replace("spec:\n", "spec:\n  foo: bar\n")
    out = kubectl("create", "-f", write(tmp_path, "unknown.yaml", unknown), check=False)
    assert out.returncode == 1 and 'unknown field "spec.foo"' in out.stderr
    assert kubectl("get", "svc", "unknown-field", check=False).returncode == 1


def test_edit_with_editor(kubectl, tmp_path):
    kubectl("create", "configmap", "edited", "--from-literal=k=v")
    editor = write(tmp_path, "editor.sh", "#!/bin/sh\nsed -i 's/k: v/k: edited/' \"$1\"\n")
    Path(editor).chmod(0o755)
    out = kubectl("edit", "configmap", "edited", env={"KUBE_EDITOR": editor})
    assert "configmap/edited edited" in out.stdout
    assert kubectl("get", "cm", "edited", "-o", "jsonpath={.data.k}").stdout == "edited"


def test_scale_expose_describe(kubectl, tmp_path):
    kubectl("create", "-f", write(tmp_path, "rc.yaml", rc_manifest("scaled", 0)))
    assert "replicationcontroller/scaled scaled" in kubectl("scale", "rc", "scaled", "--replicas=0").stdout
    out = kubectl("expose", "rc", "scaled", "--type=LoadBalancer", "--name", "scaled-lb").stdout
    assert "service/scaled-lb exposed" in out
    svc = json.loads(kubectl("get", "svc", "scaled-lb", "-o", "json").stdout)
    assert 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767
    assert svc["spec"]["selector"] == {"app": "scaled"}
    desc = kubectl("describe", "svc", "scaled-lb").stdout
    assert "Type:                     LoadBalancer" in desc and "Selector:                 app=scaled" in desc
    assert "Replicas:" in kubectl("describe", "rc", "scaled").stdout


def test_secrets_configmaps_namespaces(kubectl, tmp_path):
    key, cert = tmp_path / "tls.key", tmp_path / "tls.cert"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-x509", "-key", str(key), "-out", str(cert), "-days", "360",
                    "-subj", "/CN=kubia.example.com"], check=True, capture_output=True)
    out = kubectl("create", "secret", "tls", "tls-secret", f"--cert={cert}", f"--key={key}").stdout
    assert "secret/tls-secret created" in out
    row = kubectl("get", "secret", "tls-secret").stdout.splitlines()[1].split()
    assert row[:3] == ["tls-secret", "kubernetes.io/tls", "2"]
    dup = kubectl("create", "secret", "tls", "tls-secret", f"--cert={cert}", f"--key={key}", check=False)
    assert 'secrets "tls-secret" already exists' in dup.stderr
    kubectl("create", "secret", "generic", "gen", "--from-literal=user=admin")
    assert kubectl("get", "secret", "gen", "-o", "jsonpath={.data.user}").stdout == "YWRtaW4="
    kubectl("create", "configmap", "cfg", "--from-literal=a=b")
    assert kubectl("get", "cm", "cfg", "-o", "jsonpath={.data.a}").stdout == "b"
    assert "namespace/team created" in kubectl("create", "namespace", "team").stdout
    kubectl("create", "configmap", "inside", "-n", "team", "--from-literal=x=y")
    assert "namespace \"team\" deleted" in kubectl("delete", "namespace", "team", timeout=60).stdout
    gone = kubectl("get", "namespace", "team", check=False)
    assert gone.returncode == 1 and 'namespaces "team" not found' in gone.stderr


def test_explain(kubectl):
    out = kubectl("explain", "svc.spec.ports").stdout
    assert "targetPort" in out and "FIELDS:" in out
    assert "periodSeconds" in kubectl("explain", "pod.spec.containers.readinessProbe").stdout


def test_wait_for_condition(kubectl):
    kubectl("create", "configmap", "waited", "--from-literal=a=1")
    out = kubectl("wait", "--for=jsonpath={.data.a}=1", "configmap/waited", "--timeout=20s").stdout
    assert "configmap/waited condition met" in out


def test_delete_by_name_label_file_and_cascade(kubectl, tmp_path):
    f = write(tmp_path, "rc.yaml", rc_manifest("owner", 0))
    kubectl("create", "-f", f)
    rc = json.loads(kubectl("get", "rc", "owner", "-o", "json").stdout)
    owned = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "owned", "ownerReferences": [
                 {"apiVersion": "v1", "kind": "ReplicationController", "name": "owner",
                  "uid": rc["metadata"]["uid"], "controller": True}]}}
    kubectl("create", "-f", write(tmp_path, "owned.json", json.dumps(owned)))
    assert 'replicationcontroller "owner" deleted' in kubectl("delete", "-f", f).stdout
    deadline = time.monotonic() + 10
    while kubectl("get", "cm", "owned", check=False).returncode == 0:
        assert time.monotonic() < deadline, "owned object was not garbage-collected"
        time.sleep(0.1)
    kubectl("create", "configmap", "l1", "--from-literal=a=b")
    kubectl("label", "cm", "l1", "sweep=yes")
    assert 'configmap "l1" deleted' in kubectl("delete", "cm", "-l", "sweep=yes").stdout
    missing = kubectl("delete", "svc", "does-not-exist", check=False)
    assert missing.returncode == 1 and 'services "does-not-exist" not found' in missing.stderr
