"""Protobuf request bodies (application/vnd.kubernetes.protobuf) decode to kubectl's JSON.

Every fixture in fixtures/protobuf/ is a POST body captured from the real kubectl 1.32.4
(`KUBECONFIG=/dev/null kubectl --server=http://127.0.0.1:PORT --cache-dir=$(mktemp -d) ...`
against a throwaway logging stub that served /version (minor "32") and legacy discovery).
The matching <name>.json is the same command's `--dry-run=client -o json` output, i.e. the
object exactly as kubectl renders it as JSON; decode() must reproduce it key for key.

    secret_tls.bin            kubectl create secret tls tls-secret --cert=tls.cert --key=tls.key
                              (throwaway self-signed EC P-256 pair: openssl req -x509 -newkey ec
                              -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=foo.com ...)
    secret_generic.bin        kubectl create secret generic s --from-literal=a=b
    secret_docker.bin         kubectl create secret docker-registry reg --docker-server=r.io
                              --docker-username=u --docker-password=p --docker-email=e@x.io
    secret_file.bin           kubectl create secret generic sf --from-file=bin.dat --from-literal=x=y
                              --type=example.com/custom -n other      (bin.dat = b"\\x00\\x01\\xff\\xfebin")
    secret_envfile.bin        kubectl create secret generic se --from-env-file=env.txt  (env.txt = "A=1\\nB=two\\n")
    configmap.bin             kubectl create configmap c --from-literal=k=v
    configmap_file.bin        kubectl create configmap cf --from-file=bin.dat --from-literal=x=y -n other
    namespace.bin             kubectl create namespace n
    serviceaccount.bin        kubectl create serviceaccount sa
    deployment.bin            kubectl create deployment d --image=luksa/kubia --replicas=3 --port=8080
    deployment_cmd.bin        kubectl create deployment dc --image=busybox -- sleep 3600
    deployment_multi.bin      kubectl create deployment dm --image=nginx --image=redis
    service_clusterip.bin     kubectl create service clusterip s --tcp=80:8080
    service_nodeport.bin      kubectl create service nodeport n --tcp=80:8080 --node-port=30080
    service_loadbalancer.bin  kubectl create service loadbalancer lb --tcp=443:https --tcp=80
    service_externalname.bin  kubectl create service externalname ext --external-name=example.com --tcp=80
    ingress.bin               kubectl create ingress i --rule="foo.com/bar*=svc1:8080,tls=my-cert"
    ingress_full.bin          kubectl create ingress i2 --class=nginx --default-backend=defsvc:http
                              --rule="bar.com/=svc3:web" --rule="/path=svc4:80"
                              --rule="baz.com/exact=svc5:8443,tls" --annotation=a=b
    job.bin                   kubectl create job j --image=busybox -- echo hi     (batch/v1 Job: unsupported)
    token.bin                 kubectl create token sa    (authentication.k8s.io/v1 TokenRequest: unsupported)
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from kubeloop.api import errors, protobuf
from kubeloop.api.protobuf import decode

FIXTURES = Path(__file__).parent / "fixtures" / "protobuf"


def load(name: str) -> bytes:
    return (FIXTURES / f"{name}.bin").read_bytes()


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


# ---- a tiny protobuf encoder for synthetic bodies -----------------------------------------


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def fld(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def entry(number: int, key: str, value: bytes | str) -> bytes:
    return fld(number, fld(1, key) + fld(2, value))


def envelope(api_version: str, kind: str, raw: bytes, *, encoding: str = "", content_type: str = "") -> bytes:
    unknown = fld(1, fld(1, api_version) + fld(2, kind)) + fld(2, raw) + fld(3, encoding) + fld(4, content_type)
    return b"k8s\x00" + unknown


# ---- whole-object equality with kubectl's own JSON rendering ----------------------------

JSON_FIXTURES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def test_every_supported_fixture_has_its_kubectl_json():
    assert len(JSON_FIXTURES) == 18
    assert set(JSON_FIXTURES) == {p.stem for p in FIXTURES.glob("*.bin")} - {"job", "token"}


@pytest.mark.parametrize("name", JSON_FIXTURES)
def test_decode_equals_kubectl_dry_run_json(name):
    want = json.loads((FIXTURES / f"{name}.json").read_text())
    got = decode(load(name))
    assert got == want
    assert json.dumps(got) == json.dumps(want)  # same key order as Go's encoder


# ---- field by field ---------------------------------------------------------------------


def test_secret_tls():
    obj = decode(load("secret_tls"))
    assert list(obj) == ["kind", "apiVersion", "metadata", "data", "type"]
    assert obj["kind"] == "Secret"
    assert obj["apiVersion"] == "v1"
    assert obj["metadata"] == {"name": "tls-secret", "creationTimestamp": None}
    assert obj["type"] == "kubernetes.io/tls"
    assert sorted(obj["data"]) == ["tls.crt", "tls.key"]
    assert base64.b64decode(obj["data"]["tls.crt"]).startswith(b"-----BEGIN CERTIFICATE-----\n")
    assert base64.b64decode(obj["data"]["tls.key"]).startswith(b"-----BEGIN PRIVATE KEY-----\n")


def test_secret_generic():
    obj = decode(load("secret_generic"))
    assert obj["kind"] == "Secret"
    assert obj["apiVersion"] == "v1"
    assert obj["metadata"] == {"name": "s", "creationTimestamp": None}
    assert obj["data"] == {"a": b64("b")}
    assert "type" not in obj  # empty string, omitempty
    assert "stringData" not in obj
    assert "immutable" not in obj


def test_secret_docker_registry():
    obj = decode(load("secret_docker"))
    assert obj["metadata"]["name"] == "reg"
    assert obj["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(base64.b64decode(obj["data"][".dockerconfigjson"]))
    assert config == {"auths": {"r.io": {"username": "u", "password": "p", "email": "e@x.io", "auth": b64("u:p")}}}


def test_secret_from_binary_file_with_namespace_and_type():
    obj = decode(load("secret_file"))
    assert obj["metadata"] == {"name": "sf", "namespace": "other", "creationTimestamp": None}
    assert obj["data"] == {"bin.dat": b64(b"\x00\x01\xff\xfebin"), "x": b64("y")}
    assert obj["type"] == "example.com/custom"


def test_secret_from_env_file():
    obj = decode(load("secret_envfile"))
    assert obj["data"] == {"A": b64("1"), "B": b64("two")}


def test_configmap():
    obj = decode(load("configmap"))
    assert obj == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "c", "creationTimestamp": None},
        "data": {"k": "v"},
    }


def test_configmap_binary_data():
    obj = decode(load("configmap_file"))
    assert obj["metadata"]["namespace"] == "other"
    assert obj["data"] == {"x": "y"}
    assert obj["binaryData"] == {"bin.dat": b64(b"\x00\x01\xff\xfebin")}


def test_namespace():
    obj = decode(load("namespace"))
    assert obj == {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": "n", "creationTimestamp": None},
        "spec": {},
        "status": {},
    }


def test_serviceaccount():
    obj = decode(load("serviceaccount"))
    assert obj == {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": "sa", "creationTimestamp": None}}


def test_deployment():
    obj = decode(load("deployment"))
    assert obj["kind"] == "Deployment"
    assert obj["apiVersion"] == "apps/v1"
    assert obj["metadata"] == {"name": "d", "creationTimestamp": None, "labels": {"app": "d"}}
    spec = obj["spec"]
    assert spec["replicas"] == 3
    assert spec["selector"] == {"matchLabels": {"app": "d"}}
    assert spec["strategy"] == {}
    assert spec["template"]["metadata"] == {"creationTimestamp": None, "labels": {"app": "d"}}
    assert spec["template"]["spec"] == {
        "containers": [{"name": "kubia", "image": "luksa/kubia", "ports": [{"containerPort": 8080}], "resources": {}}]
    }
    assert obj["status"] == {}
    assert "minReadySeconds" not in spec and "paused" not in spec


def test_deployment_command_and_default_replicas():
    obj = decode(load("deployment_cmd"))
    assert obj["spec"]["replicas"] == 1
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    assert container == {"name": "busybox", "image": "busybox", "command": ["sleep", "3600"], "resources": {}}


def test_deployment_two_containers():
    obj = decode(load("deployment_multi"))
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("nginx", "nginx"), ("redis", "redis")]


def test_service_clusterip():
    obj = decode(load("service_clusterip"))
    assert obj["kind"] == "Service"
    assert obj["metadata"] == {"name": "s", "creationTimestamp": None, "labels": {"app": "s"}}
    assert obj["spec"] == {
        "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
        "selector": {"app": "s"},
        "type": "ClusterIP",
    }
    assert obj["status"] == {"loadBalancer": {}}


def test_service_nodeport():
    obj = decode(load("service_nodeport"))
    assert obj["spec"]["type"] == "NodePort"
    assert obj["spec"]["ports"] == [
        {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080}
    ]


def test_service_loadbalancer_named_target_port():
    obj = decode(load("service_loadbalancer"))
    assert obj["spec"]["type"] == "LoadBalancer"
    assert obj["spec"]["ports"] == [
        {"name": "443-https", "protocol": "TCP", "port": 443, "targetPort": "https"},
        {"name": "80", "protocol": "TCP", "port": 80, "targetPort": 80},
    ]


def test_service_externalname():
    obj = decode(load("service_externalname"))
    assert obj["spec"]["type"] == "ExternalName"
    assert obj["spec"]["externalName"] == "example.com"
    assert "clusterIP" not in obj["spec"]


def test_ingress():
    obj = decode(load("ingress"))
    assert obj["kind"] == "Ingress"
    assert obj["apiVersion"] == "networking.k8s.io/v1"
    assert obj["metadata"] == {"name": "i", "creationTimestamp": None}
    assert obj["spec"] == {
        "tls": [{"hosts": ["foo.com"], "secretName": "my-cert"}],
        "rules": [
            {
                "host": "foo.com",
                "http": {
                    "paths": [
                        {
                            "path": "/bar",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "svc1", "port": {"number": 8080}}},
                        }
                    ]
                },
            }
        ],
    }
    assert obj["status"] == {"loadBalancer": {}}


def test_ingress_class_default_backend_and_hostless_rule():
    obj = decode(load("ingress_full"))
    assert obj["metadata"]["annotations"] == {"a": "b"}
    spec = obj["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["defaultBackend"] == {"service": {"name": "defsvc", "port": {"name": "http"}}}
    assert spec["tls"] == [{"hosts": ["baz.com"]}]
    assert [r.get("host") for r in spec["rules"]] == ["bar.com", None, "baz.com"]
    assert spec["rules"][1]["http"]["paths"][0] == {
        "path": "/path",
        "pathType": "Exact",
        "backend": {"service": {"name": "svc4", "port": {"number": 80}}},
    }
    assert spec["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] == {"name": "web"}


# ---- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [("job", "Job"), ("token", "TokenRequest")])
def test_unsupported_kind_from_real_kubectl(name, kind):
    with pytest.raises(errors.UnsupportedMediaType) as info:
        decode(load(name))
    assert info.value.code == 415
    assert kind in info.value.message
    assert "--dry-run=client -o yaml | kubectl apply -f -" in info.value.message


def test_unsupported_kind_synthetic():
    with pytest.raises(errors.UnsupportedMediaType, match="Pod"):
        decode(envelope("v1", "Pod", fld(1, fld(1, "p"))))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage, not protobuf at all",
        b'{"kind":"Secret","apiVersion":"v1"}',
        b"k8s\x00\xff",  # truncated varint key
        b"k8s\x00\x0a\x0c\x0a\x02v1",  # length runs past the end
        b"k8s\x00\x0b\x00",  # wire type 3 (group)
        b"k8s\x00" + b"\xff" * 11,  # varint longer than 10 bytes
        b"k8s\x00",  # no typeMeta
    ],
)
def test_garbage_is_bad_request(body):
    with pytest.raises(errors.BadRequest):
        decode(body)


@pytest.mark.parametrize("name", ["secret_tls", "deployment", "ingress_full", "service_loadbalancer"])
def test_truncated_fixture_is_bad_request(name):
    body = load(name)
    for cut in (5, 10, len(body) // 2, len(body) - 1):
        with pytest.raises(errors.BadRequest):
            decode(body[:cut])


def test_wrong_wire_type_is_bad_request():
    # ObjectMeta.name (field 1) sent as a varint instead of a string
    raw = fld(1, fld(1, 7))
    with pytest.raises(errors.BadRequest, match="metadata.name"):
        decode(envelope("v1", "ConfigMap", raw))


def test_content_encoding_is_refused():
    with pytest.raises(errors.UnsupportedMediaType):
        decode(envelope("v1", "ConfigMap", b"", encoding="gzip"))


def test_unmodelled_field_is_refused_not_dropped():
    probe = fld(10, fld(1, b""))  # Container.livenessProbe
    container = fld(1, "c") + fld(2, "img") + probe
    pod_spec = fld(2, container)
    template = fld(2, pod_spec)
    raw = fld(1, fld(1, "d")) + fld(2, fld(3, template))
    with pytest.raises(errors.UnsupportedMediaType, match=r"spec\.template\.spec\.containers\[0\]\.livenessProbe"):
        decode(envelope("apps/v1", "Deployment", raw))


# ---- encoding details on synthetic bodies -----------------------------------------------


def test_object_meta_details():
    owner = fld(1, "ReplicaSet") + fld(3, "rs") + fld(4, "uid-1") + fld(5, "apps/v1") + fld(6, 1) + fld(7, 0)
    meta = (
        fld(1, "c")
        + fld(2, "")
        + fld(3, "ns")
        + fld(5, "1234")
        + fld(6, "42")
        + fld(7, 3)
        + fld(8, fld(1, 1767225600) + fld(2, 123))  # 2026-01-01T00:00:00Z; nanos are dropped like Go
        + fld(9, fld(1, 0))  # deletionTimestamp at the epoch
        + fld(10, 30)
        + entry(11, "app", "x")
        + entry(11, "tier", "web")
        + entry(12, "note", "")
        + fld(13, owner)
        + fld(14, "example.com/f")
        + fld(99, "an unknown field is skipped")
    )
    obj = decode(envelope("v1", "ConfigMap", fld(1, meta) + fld(4, 0)))
    assert obj["metadata"] == {
        "name": "c",
        "namespace": "ns",
        "uid": "1234",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "deletionTimestamp": "1970-01-01T00:00:00Z",
        "deletionGracePeriodSeconds": 30,
        "labels": {"app": "x", "tier": "web"},
        "annotations": {"note": ""},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "rs",
                "uid": "uid-1",
                "controller": True,
                "blockOwnerDeletion": False,
            }
        ],
        "finalizers": ["example.com/f"],
    }
    assert obj["immutable"] is False  # a pointer field: present even when false


def test_negative_ints_intorstr_and_quantities():
    rolling = fld(1, fld(1, 1) + fld(3, "25%")) + fld(2, fld(1, 0) + fld(2, 2))
    limits = entry(1, "cpu", fld(1, "500m")) + entry(1, "memory", fld(1, "64Mi"))
    container = fld(1, "c") + fld(8, limits) + fld(7, fld(1, "E") + fld(2, "v"))
    pod_spec = fld(2, container) + fld(4, -1 & (1 << 64) - 1) + fld(7, b"")  # empty map entry
    raw = fld(2, fld(1, 0) + fld(3, fld(2, pod_spec)) + fld(4, fld(1, "RollingUpdate") + fld(2, rolling)))
    obj = decode(envelope("apps/v1", "Deployment", raw))
    spec = obj["spec"]
    assert spec["replicas"] == 0  # pointer: kept although zero
    assert spec["selector"] is None  # pointer without omitempty: null, as Go renders it
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 2}}
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == -1
    assert pod["nodeSelector"] == {"": ""}
    assert pod["containers"] == [
        {"name": "c", "env": [{"name": "E", "value": "v"}], "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}
    ]


def test_supported_kinds():
    assert protobuf.supports("v1", "Secret")
    assert protobuf.supports("apps/v1", "Deployment")
    assert protobuf.supports("networking.k8s.io/v1", "Ingress")
    assert not protobuf.supports("batch/v1", "Job")
    assert protobuf.MEDIA_TYPE == "application/vnd.kubernetes.protobuf"


def test_field_table_is_closed():
    """Every field type is a scalar or a message of the table; every kind has its message."""
    for name, table in protobuf.MESSAGES.items():
        for number, field in table.items():
            assert number > 0, name
            assert field.type in protobuf.SCALARS or field.type in protobuf.MESSAGES, (name, field)
            assert not (field.map and field.repeated), (name, field)
            if field.inline:
                assert field.type in protobuf.MESSAGES, (name, field)
        names = [f.name for f in table.values() if not f.inline]
        assert len(names) == len(set(names)), name
    for message in protobuf.KINDS.values():
        assert message in protobuf.MESSAGES
