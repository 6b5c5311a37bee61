"""Shared test fixtures: a real kubeloop cluster in a subprocess and the real kubectl.

`cluster` starts `kubeloop up` (port 0, its own data directory, kubeconfig not merged into
the user's) once per module and stops it afterwards; `kubectl` runs the real kubectl against
it with a fresh discovery cache. When CI is set, a missing prerequisite (kubectl, root)
fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

IN_CI = bool(os.environ.get("CI"))

# The book's ReplicationController (kubia on 8080); `{pod_spec}` adds lines to the pod spec
# (indented 6 spaces), `{container}` to the container (indented 8 spaces).
RC_TEMPLATE = """\
apiVersion: v1
kind: ReplicationController
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
{pod_spec}      containers:
      - name: kubia
        image: luksa/kubia
        ports:
        - containerPort: 8080
{container}"""


def rc_manifest(name: str, replicas: int, *, pod_spec: str = "", container: str = "") -> str:
    return RC_TEMPLATE.format(name=name, replicas=replicas, pod_spec=pod_spec, container=container)


def apply_manifest(kubectl: Callable[..., Any], tmp_path: Path, name: str, text: str) -> None:
    """Write a manifest to tmp_path/<name>.yaml and `kubectl apply -f` it, as a user would."""
    f = tmp_path / f"{name}.yaml"
    f.write_text(text)
    kubectl("apply", "-f", str(f))


def wait_for(fn, timeout: float = 30.0, what: str = "condition"):
    """Poll fn until it returns something true (and return that), or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def require(condition: bool, reason: str) -> None:
    """Skip on a developer machine, fail in CI: CI must run every test."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing in CI: {reason}")
    pytest.skip(reason)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on host right now (for servers a test starts)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def require_root_and(*tools: str) -> None:
    """Root and these commands, or skip (fail in CI)."""
    missing = [] if os.geteuid() == 0 else ["root"]
    missing += [t for t in tools if shutil.which(t) is None]
    require(not missing, f"needs {', '.join(missing)}")


@pytest.fixture
def netns(request: pytest.FixtureRequest) -> Iterator[str]:
    """A throwaway network namespace (root, ip and nft needed), removed afterwards. Named
    after the test module's NETNS_PREFIX (never kubeloop's own ``kl-``, which ``kubeloop up``
    cleans), so leftovers show whose they are."""
    require_root_and("ip", "nft")
    name = f"{getattr(request.module, 'NETNS_PREFIX', 'kltest')}-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)
    assert not os.path.exists(f"/run/netns/{name}")


@dataclass
class RunningCluster:
    data_dir: Path
    kubeconfig: Path
    server: str
    process: subprocess.Popen[str]
    cache_dir: Path

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]
        full_env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), **(env or {})}
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=full_env)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc


# Cluster DNS forwards names outside the cluster here: loopback, where tests that need an
# upstream start one; never the machine's own resolver.
TEST_DNS_UPSTREAM = "127.0.0.1:5399"


def start_cluster(data_dir: Path, *extra: str) -> RunningCluster:
    if "--dns-upstream" not in extra:
        extra = (*extra, "--dns-upstream", TEST_DNS_UPSTREAM)
    log = open(data_dir / "kubeloop.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeloop.cli", "--data-dir", str(data_dir), "up", "--port", "0",
         "--no-merge-kubeconfig", *extra],
        stdout=subprocess.PIPE, stderr=log, text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    server = ""
    for line in proc.stdout:
        if "API server listening on" in line:
            server = line.rsplit(" ", 1)[1].strip()
        if "ready in" in line:
            break
        if time.monotonic() > deadline:
            break
    if proc.poll() is not None or not server:
        proc.kill()
        raise RuntimeError(f"kubeloop up failed: {(data_dir / 'kubeloop.log').read_text()}")
    cache = Path(tempfile.mkdtemp(prefix="kubectl-cache-"))
    return RunningCluster(data_dir, data_dir / "kubeconfig", server, proc, cache)


def stop_cluster(cluster: RunningCluster) -> None:
    proc = cluster.process
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(cluster.cache_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    require(shutil.which("kubectl") is not None, "kubectl is not installed")
    c = start_cluster(tmp_path_factory.mktemp("kubeloop"), "--nodes", "0")
    yield c
    stop_cluster(c)


@pytest.fixture
def kubectl(cluster: RunningCluster):
    return cluster.kubectl
