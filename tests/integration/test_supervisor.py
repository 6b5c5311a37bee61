"""Cluster start-up and shutdown (kubeloop.cluster.supervisor), in-process with no nodes (no
root needed): stop() undoes every step in reverse even when one of them fails, and a
component that fails to start undoes what started before it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kubeloop.cluster.control import ControlServer
from kubeloop.cluster.supervisor import Cluster, ClusterConfig


def config(tmp_path: Path) -> ClusterConfig:
    return ClusterConfig(data_dir=tmp_path / "data", port=0, nodes=0, memory=True, merge_kubeconfig=False)


def test_stop_runs_every_step_even_when_one_fails(tmp_path: Path) -> None:
    async def run() -> None:
        cluster = Cluster(config(tmp_path))
        await cluster.start()
        assert cluster.apiserver is not None and cluster.controllers is not None and cluster.control is not None
        controllers = cluster.controllers

        async def broken_stop() -> None:
            raise RuntimeError("controller manager would not stop")
        controllers.stop = broken_stop  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="would not stop"):
            await cluster.stop()
        # What started before the controllers was still stopped.
        assert cluster.apiserver is None and cluster.client is None and cluster.control is None
        assert not (tmp_path / "data" / "control.sock").exists()
        await cluster.stop()  # a second stop has nothing left to do
    asyncio.run(run())


def test_a_failed_start_undoes_what_started_before_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken_start(*args: object, **kwargs: object) -> None:
        raise OSError("control socket refused")
    monkeypatch.setattr(ControlServer, "start", broken_start)

    async def run() -> None:
        cluster = Cluster(config(tmp_path))
        with pytest.raises(OSError, match="control socket refused"):
            await cluster.start()
        assert cluster.apiserver is None and cluster.controllers is None and cluster.client is None
    asyncio.run(run())
