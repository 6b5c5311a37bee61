"""State survives a restart of `kubeloop up`: same objects, resourceVersions and allocations,
and the cluster's own objects (kube-dns, the ingress Service) are taken over, not recreated."""

from __future__ import annotations

import json
import shutil

from conftest import require, start_cluster, stop_cluster


def test_objects_and_allocations_survive_restart(tmp_path):
    require(shutil.which("kubectl") is not None, "kubectl is not installed")
    data = tmp_path / "data"
    data.mkdir()
    c = start_cluster(data, "--nodes", "1")
    try:
        svc = tmp_path / "svc.yaml"
        svc.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: keep\nspec:\n  type: NodePort\n"
                       "  selector:\n    app: keep\n  ports:\n  - port: 80\n")
        c.kubectl("apply", "-f", str(svc))
        before = json.loads(c.kubectl("get", "svc", "keep", "-o", "json").stdout)
    finally:
        stop_cluster(c)
    c = start_cluster(data, "--nodes", "1")  # DNS and ingress start over their own old objects
    try:
        after = json.loads(c.kubectl("get", "svc", "keep", "-o", "json").stdout)
        for field in ("uid", "resourceVersion", "creationTimestamp"):
            assert after["metadata"][field] == before["metadata"][field]
        assert after["spec"]["clusterIP"] == before["spec"]["clusterIP"]
        assert after["spec"]["ports"][0]["nodePort"] == before["spec"]["ports"][0]["nodePort"]
        # The restored allocator refuses the same node port for another service.
        other = tmp_path / "other.yaml"
        other.write_text(svc.read_text().replace("name: keep", "name: other").replace(
            "  - port: 80\n", f"  - port: 80\n    nodePort: {before['spec']['ports'][0]['nodePort']}\n"))
        out = c.kubectl("apply", "-f", str(other), check=False)
        assert out.returncode == 1 and "provided port is already allocated" in out.stderr
        dns = json.loads(c.kubectl("get", "svc", "-n", "kube-system", "kube-dns", "-o", "json").stdout)
        assert dns["spec"]["clusterIP"] == "10.96.0.10"
    finally:
        stop_cluster(c)
