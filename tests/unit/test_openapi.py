"""OpenAPI v3 documents and strict field checking (kubeloop.api.openapi, kubeloop.api.schemas).

What kubectl needs from the documents: for every kind, a collection POST and an item PATCH
carrying `x-kubernetes-group-version-kind` and a `fieldValidation` query parameter, and no
`requestBody` on any PATCH (else kubectl builds strategic patches from the schemas). What
`kubectl explain` needs: resolvable `$ref`s and GVK-tagged kind schemas.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any, Iterator

import pytest
import yaml

from kubeloop.api import openapi, registry, schemas

ALL_GVS = [*registry.group_versions(), ("autoscaling", "v1")]
METHODS = ("get", "put", "post", "delete", "patch")


def _ops(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _params(op: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["name"], p["in"]) for p in op.get("parameters", [])}


def _gvk(r: registry.ResourceType) -> dict[str, str]:
    return {"group": r.group, "version": r.version, "kind": r.kind}


@pytest.mark.parametrize("r", registry.RESOURCES, ids=lambda r: r.group_resource)
def test_every_kind_has_validated_post_and_patch(r: registry.ResourceType) -> None:
    doc = openapi.document(r.group, r.version)
    base = r.base_path("{namespace}") if r.namespaced else r.base_path()
    post = doc["paths"][base]["post"]
    patch = doc["paths"][base + "/{name}"]["patch"]
    put = doc["paths"][base + "/{name}"]["put"]
    for op in (post, patch, put):
        assert op["x-kubernetes-group-version-kind"] == _gvk(r)
        assert ("fieldValidation", "query") in _params(op)
    assert post["x-kubernetes-action"] == "post"
    assert patch["x-kubernetes-action"] == "patch"
    assert "requestBody" not in patch
    # the kind's schema is there, tagged for `kubectl explain`
    schema = doc["components"]["schemas"][schemas.schema_name(r.api_version, r.kind)]
    assert schema["x-kubernetes-group-version-kind"] == [_gvk(r)]
    assert {"apiVersion", "kind", "metadata"} <= set(schema["properties"])


@pytest.mark.parametrize("gv", ALL_GVS, ids=lambda gv: "/".join(filter(None, gv)))
def test_document_shape(gv: tuple[str, str]) -> None:
    doc = openapi.document(*gv)
    assert doc["openapi"] == "3.0.0"
    assert doc["info"] == {"title": "Kubernetes", "version": "v1.32.0"}
    for path, method, op in _ops(doc):
        assert "x-kubernetes-group-version-kind" in op, (path, method)
        if method == "patch":
            # kubectl looks at *any* PATCH op of the GVK, so every one must offer fieldValidation
            assert "requestBody" not in op, path
            assert ("fieldValidation", "query") in _params(op), path


@pytest.mark.parametrize("gv", ALL_GVS, ids=lambda gv: "/".join(filter(None, gv)))
def test_every_ref_resolves(gv: tuple[str, str]) -> None:
    doc = openapi.document(*gv)
    defined = doc["components"]["schemas"]
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    assert refs
    prefix = "#/components/schemas/"
    assert all(ref.startswith(prefix) for ref in refs)
    assert {ref[len(prefix):] for ref in refs} <= set(defined)


def test_scale_and_status_subresources() -> None:
    doc = openapi.document("apps", "v1")
    scale = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["patch"]["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert "io.k8s.api.autoscaling.v1.Scale" in doc["components"]["schemas"]
    status = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"]
    assert status["patch"]["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    core = openapi.document("", "v1")
    assert "/api/v1/namespaces/{namespace}/replicationcontrollers/{name}/scale" in core["paths"]
    assert "/api/v1/nodes/{name}" in core["paths"]  # cluster-scoped item
    assert "/api/v1/services" in core["paths"]  # all-namespaces list
    assert core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]["x-kubernetes-action"] == "get"


def test_index_lists_every_group_version_with_stable_hash() -> None:
    idx = openapi.index()
    assert set(idx["paths"]) == {
        "api/v1", "apis/apps/v1", "apis/discovery.k8s.io/v1", "apis/networking.k8s.io/v1",
        "apis/coordination.k8s.io/v1", "apis/autoscaling/v1",
    }
    for g, v in ALL_GVS:
        key = f"apis/{g}/{v}" if g else f"api/{v}"
        url = idx["paths"][key]["serverRelativeURL"]
        digest = hashlib.sha512(
            json.dumps(openapi.document(g, v), separators=(",", ":"), sort_keys=True).encode()
        ).hexdigest().upper()
        assert url == f"/openapi/v3/{key}?hash={digest}"
        assert openapi.document_for_path(url) is openapi.document(g, v)
    assert openapi.index() == idx


def test_index_hash_is_stable_across_processes() -> None:
    code = "import json; from kubeloop.api import openapi; print(json.dumps(openapi.index(), sort_keys=True))"
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout
        for seed in ("1", "2")
    }
    assert runs == {json.dumps(openapi.index(), sort_keys=True) + "\n"}


def test_document_for_path() -> None:
    assert openapi.document_for_path("api/v1") is openapi.document("", "v1")
    assert openapi.document_for_path("/openapi/v3/apis/apps/v1?hash=X") is openapi.document("apps", "v1")
    assert openapi.document_for_path("apis/batch/v1") is None
    assert openapi.document_for_path("apis/apps") is None
    with pytest.raises(KeyError):
        openapi.document("batch", "v1")


def test_explain_fields_have_descriptions() -> None:
    s = openapi.document("", "v1")["components"]["schemas"]
    ports = s["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"]
    assert ports["type"] == "array" and ports["description"]
    assert ports["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.ServicePort"}
    port = s["io.k8s.api.core.v1.ServicePort"]
    assert port["required"] == ["port"]
    assert port["properties"]["targetPort"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}
    ]
    probe = s["io.k8s.api.core.v1.Container"]["properties"]["readinessProbe"]
    assert probe["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.core.v1.Probe"}]
    net = openapi.document("networking.k8s.io", "v1")["components"]["schemas"]
    assert "pathType" in net["io.k8s.api.networking.v1.HTTPIngressPath"]["properties"]
    for name, schema in s.items():
        for field, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{field}"


# --- unknown_fields -----------------------------------------------------------------------------

SEED_SERVICE = """
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

SEED_RC = """
apiVersion: v1
kind: ReplicationController
metadata:
  name: kubia
spec:
  replicas: 3
  selector:
    app: kubia
  template:
    metadata:
      labels:
        app: kubia
    spec:
      containers:
      - name: kubia
        image: luksa/kubia
        ports:
        - name: http
          containerPort: 8080
        readinessProbe:
          exec:
            command:
            - ls
            - /var/ready
"""

SEED_INGRESS = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: kubia
spec:
  tls:
  - hosts: [kubia.example.com]
    secretName: tls-secret
  rules:
  - host: kubia.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service: {name: kubia, port: {number: 80}}
"""


def _load(text: str) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(text)
    return obj


@pytest.mark.parametrize("text", [SEED_SERVICE, SEED_RC, SEED_INGRESS], ids=["service", "rc", "ingress"])
def test_seed_manifests_have_no_unknown_fields(text: str) -> None:
    obj = _load(text)
    assert schemas.unknown_fields(obj["apiVersion"], obj["kind"], obj) == []


def test_unknown_fields_found() -> None:
    svc = _load(SEED_SERVICE)
    svc["spec"]["foo"] = 1
    svc["spec"]["ports"][0]["bogus"] = True
    svc["metadata"]["labelz"] = {"a": "b"}
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4", "what": 1}]}}
    # document order, as the apiserver's decoder reports them
    assert schemas.unknown_fields("v1", "Service", svc) == [
        "metadata.labelz", "spec.ports[0].bogus", "spec.foo", "status.loadBalancer.ingress[0].what",
    ]
    rc = _load(SEED_RC)
    rc["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    assert schemas.unknown_fields("v1", "ReplicationController", rc) == ["spec.template.spec.containers[0].imagee"]


def test_unknown_fields_skips_free_form_and_unknown_kinds() -> None:
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"x": "y"},
                                                         "managedFields": [{"fieldsV1": {"f:spec": {}}}]},
        "spec": {
            "containers": [{"name": "c", "image": "i",
                            "securityContext": {"seccompProfile": {"type": "RuntimeDefault", "anything": 1}}}],
            "volumes": [{"name": "v", "csi": {"driver": "d", "whatever": {"deep": True}}}],
        },
    }
    assert schemas.unknown_fields("v1", "Pod", pod) == []
    spec: dict[str, Any] = {"strategy": {"rollingUpdate": {"maxSurge": "25%"}}, "template": {"spec": {"containers": []}}}
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": spec}
    assert schemas.unknown_fields("apps/v1", "Deployment", deploy) == []
    spec["replica"] = 3
    assert schemas.unknown_fields("apps/v1", "Deployment", deploy) == ["spec.replica"]
    assert schemas.unknown_fields("example.com/v1", "Widget", {"spec": {"x": 1}}) == []


def test_strict_decoding_message() -> None:
    assert schemas.strict_decoding_message("v1", "Service", ["spec.foo"]) == (
        'Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "spec.foo"'
    )
    assert schemas.strict_decoding_message("apps/v1", "Deployment", ["spec.a", "spec.b"]).endswith(
        'strict decoding error: unknown field "spec.a", unknown field "spec.b"'
    )
