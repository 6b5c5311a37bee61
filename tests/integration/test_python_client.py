"""The official Python `kubernetes` client against kubeloop: CRUD, list+watch, 409, 410.

The cluster here keeps a short watch history (`--watch-history 50`) so that a watch from an
old resourceVersion meets compaction quickly.
"""

from __future__ import annotations

import shutil
from typing import Iterator

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from conftest import RunningCluster, require, start_cluster, stop_cluster


@pytest.fixture(scope="module")
def small_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    require(shutil.which("kubectl") is not None, "kubectl is not installed")
    c = start_cluster(tmp_path_factory.mktemp("kubeloop-py"), "--watch-history", "50", "--nodes", "0")
    yield c
    stop_cluster(c)


@pytest.fixture
def core(small_cluster: RunningCluster) -> Iterator[client.CoreV1Api]:
    api_client = config.new_client_from_config(config_file=str(small_cluster.kubeconfig))
    yield client.CoreV1Api(api_client)
    api_client.close()


def svc_body(name: str) -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name, labels={"suite": "py"}),
        spec=client.V1ServiceSpec(selector={"app": name}, ports=[client.V1ServicePort(port=80, target_port=8080)]),
    )


def test_crud(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_service("default", svc_body("py-crud"))
    assert created.spec.cluster_ip.startswith("10.")
    assert created.spec.ports[0].protocol == "TCP"
    got = core.read_namespaced_service("py-crud", "default")
    assert got.metadata.uid == created.metadata.uid
    patched = core.patch_namespaced_service("py-crud", "default", {"metadata": {"labels": {"extra": "1"}}})
    assert patched.metadata.labels == {"suite": "py", "extra": "1"}
    listed = core.list_namespaced_service("default", label_selector="suite=py")
    assert [s.metadata.name for s in listed.items] == ["py-crud"]
    core.delete_namespaced_service("py-crud", "default")
    with pytest.raises(ApiException) as e:
        core.read_namespaced_service("py-crud", "default")
    assert e.value.status == 404


def test_conflict_is_409(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-cm"),
                                                                     data={"a": "1"}))
    first = core.read_namespaced_config_map("py-cm", "default")
    first.data = {"a": "2"}
    core.replace_namespaced_config_map("py-cm", "default", first)
    first.data = {"a": "3"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("py-cm", "default", first)
    assert e.value.status == 409
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-cm")))
    assert e.value.status == 409


def test_list_then_watch(core: client.CoreV1Api) -> None:
    listed = core.list_namespaced_config_map("default")
    rv = listed.metadata.resource_version
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-w")))
    core.delete_namespaced_config_map("py-w", "default")
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5):
        if event["object"].metadata.name == "py-w":
            seen.append(event["type"])
        if len(seen) == 2:
            w.stop()
    assert seen == ["ADDED", "DELETED"]


def test_watch_from_compacted_revision_is_410(core: client.CoreV1Api) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    for i in range(60):
        core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"py-c{i}")))
    with pytest.raises(ApiException) as e:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=start,
                                      timeout_seconds=5):
            pass
    assert e.value.status == 410


def test_pod_objects_deserialise_strictly(core: client.CoreV1Api) -> None:
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="py-pod"),
                       spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="luksa/kubia")]))
    core.create_namespaced_pod("default", pod)
    pods = core.list_namespaced_pod("default")
    assert "py-pod" in [p.metadata.name for p in pods.items]
    core.delete_namespaced_pod("py-pod", "default", grace_period_seconds=0)
