"""Unit tests of kubeloop.ingress.controller's pure helpers (the controller itself runs against a
real API server and nginx in tests/integration/test_ingress_controller.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubeloop.client.rest import Client
from kubeloop.ingress.controller import IngressController, _traversable


def test_advertise_address_must_be_usable_in_endpoints() -> None:
    client = Client("http://127.0.0.1:1")
    for bad in ("127.0.0.1", "0.0.0.0", "169.254.1.1", "::1"):
        with pytest.raises(ValueError):
            IngressController(client, state_dir="/nonexistent", advertise_address=bad)
    ctl = IngressController(client, state_dir="/nonexistent", advertise_address="172.30.0.1")
    assert ctl.advertise_address == "172.30.0.1"
    assert IngressController(client, state_dir="/nonexistent").advertise_address is None  # no Service managed


def test_traversable(tmp_path: Path) -> None:
    private = tmp_path / "private"
    (private / "inner").mkdir(parents=True)
    os.chmod(private, 0o700)
    assert not _traversable(private / "inner")
    os.chmod(private, 0o711)
    assert _traversable(private / "inner") == all(os.stat(p).st_mode & 1 for p in (tmp_path, *tmp_path.parents))
