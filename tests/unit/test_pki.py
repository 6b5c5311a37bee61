"""PKI: certificate contents, chaining, reuse/regeneration rules, and real TLS handshakes."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import shutil
import ssl
import stat
import subprocess
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store

from kubeloop.cluster import pki as pki_mod
from kubeloop.cluster.pki import (
    Pki,
    atomic_write,
    client_ssl_context,
    default_server_sans,
    ensure_pki,
    identity_from_peercert,
    server_ssl_context,
)

IPS = ["127.0.0.1", "10.96.0.1"]
NAMES = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
]

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return ensure_pki(tmp_path, server_ips=IPS, server_names=NAMES)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        {str(ip) for ip in san.get_values_for_type(x509.IPAddress)},
        set(san.get_values_for_type(x509.DNSName)),
    )


def _snapshot(p: Pki) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(p.dir.iterdir()) if not f.name.startswith(".")}


# --------------------------------------------------------------------------
# files and contents
# --------------------------------------------------------------------------


def test_layout_and_permissions(pki: Pki, tmp_path: Path) -> None:
    assert pki.dir == tmp_path / "pki"
    assert pki.generated == {"ca", "apiserver", "admin"}
    assert stat.S_IMODE(pki.dir.stat().st_mode) == 0o700
    for key in (pki.ca_key, pki.apiserver_key, pki.admin_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    for crt in (pki.ca_cert, pki.apiserver_cert, pki.admin_cert):
        assert stat.S_IMODE(crt.stat().st_mode) == 0o644, crt
    # nothing half-written left behind
    assert not [f for f in os.listdir(pki.dir) if f.endswith(".tmp")]


def test_directory_mode_repaired(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir(mode=0o755)
    os.chmod(tmp_path / "pki", 0o755)
    p = ensure_pki(tmp_path, server_ips=IPS, server_names=NAMES)
    assert stat.S_IMODE(p.dir.stat().st_mode) == 0o700


def test_keys_are_ecdsa_p256(pki: Pki) -> None:
    for path in (pki.ca_key, pki.apiserver_key, pki.admin_key):
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == "secp256r1"


def test_ca_certificate(pki: Pki) -> None:
    ca = _cert(pki.ca_cert)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubeloop-ca"
    assert ca.subject == ca.issuer
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert dt.timedelta(days=3649) < lifetime < dt.timedelta(days=3651)


def test_serving_certificate(pki: Pki) -> None:
    crt = _cert(pki.apiserver_cert)
    ips, names = _sans(crt)
    assert ips == set(IPS)
    assert names == set(NAMES)
    eku = crt.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not crt.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = crt.not_valid_after_utc - crt.not_valid_before_utc
    assert dt.timedelta(days=364) < lifetime < dt.timedelta(days=366)


def test_admin_certificate(pki: Pki) -> None:
    crt = _cert(pki.admin_cert)
    assert crt.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-admin"
    assert [a.value for a in crt.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:masters"]
    eku = crt.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_default_server_sans() -> None:
    ips, names = default_server_sans(["192.168.1.5"], ["myhost"])
    assert ips == ["127.0.0.1", "::1", "10.96.0.1", "192.168.1.5"]
    assert names[:5] == NAMES and names[-1] == "myhost"


# --------------------------------------------------------------------------
# chaining
# --------------------------------------------------------------------------


def test_chain_with_cryptography(pki: Pki) -> None:
    ca = _cert(pki.ca_cert)
    for path in (pki.apiserver_cert, pki.admin_cert):
        _cert(path).verify_directly_issued_by(ca)
    store = Store([ca])
    server = _cert(pki.apiserver_cert)
    # full RFC 5280 path validation, as a TLS client would do it
    for name in NAMES:
        PolicyBuilder().store(store).build_server_verifier(x509.DNSName(name)).verify(server, [])
    for ip in IPS:
        PolicyBuilder().store(store).build_server_verifier(x509.IPAddress(ipaddress.ip_address(ip))).verify(server, [])
    # Kubernetes client certificates carry no SAN (identity is CN/O), which
    # the Web-PKI defaults would demand: relax only that.
    ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
    )
    client_verifier = (
        PolicyBuilder()
        .store(store)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee)
        .build_client_verifier()
    )
    verified = client_verifier.verify(_cert(pki.admin_cert), [])
    assert verified.chain[-1] == ca
    with pytest.raises(Exception):
        PolicyBuilder().store(store).build_server_verifier(x509.DNSName("example.com")).verify(server, [])


@needs_openssl
def test_chain_with_openssl(pki: Pki) -> None:
    node_cert, _ = pki.issue_node_cert("node-1")
    node_path = pki.dir.parent / "node.crt"
    node_path.write_bytes(node_cert)
    for purpose, path in (
        ("sslserver", pki.apiserver_cert),
        ("sslclient", pki.admin_cert),
        ("sslclient", node_path),
    ):
        r = subprocess.run(
            ["openssl", "verify", "-x509_strict", "-purpose", purpose, "-CAfile", str(pki.ca_cert), str(path)],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.strip().endswith(": OK")
    # and a certificate from another CA does not verify
    other = ensure_pki(pki.dir.parent / "other", server_ips=IPS, server_names=NAMES)
    r = subprocess.run(
        ["openssl", "verify", "-CAfile", str(pki.ca_cert), str(other.admin_cert)], capture_output=True, text=True
    )
    assert r.returncode != 0


def test_issue_client_cert(pki: Pki) -> None:
    cert_pem, key_pem = pki.issue_node_cert("worker-7")
    crt = x509.load_pem_x509_certificate(cert_pem)
    crt.verify_directly_issued_by(_cert(pki.ca_cert))
    assert crt.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:worker-7"
    assert [a.value for a in crt.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:nodes"]
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert key.public_key() == crt.public_key()

    cert_pem, _ = pki.issue_client_cert("kube-proxy", ["system:node-proxier", "extra"])
    crt = x509.load_pem_x509_certificate(cert_pem)
    assert [a.value for a in crt.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:node-proxier",
        "extra",
    ]
    # nothing written to disk
    assert set(_snapshot(pki)) == {"admin.crt", "admin.key", "apiserver.crt", "apiserver.key", "ca.crt", "ca.key"}


# --------------------------------------------------------------------------
# reuse and regeneration
# --------------------------------------------------------------------------


def test_reuse_does_not_regenerate(pki: Pki, tmp_path: Path) -> None:
    before = _snapshot(pki)
    again = ensure_pki(tmp_path, server_ips=list(reversed(IPS)), server_names=[n.upper() for n in NAMES])
    assert again.generated == frozenset()
    assert _snapshot(again) == before
    assert again == pki  # same paths


def test_san_change_regenerates_only_serving_cert(pki: Pki, tmp_path: Path) -> None:
    before = _snapshot(pki)
    p2 = ensure_pki(tmp_path, server_ips=IPS + ["192.0.2.10"], server_names=NAMES + ["kubeloop.test"])
    assert p2.generated == {"apiserver"}
    after = _snapshot(p2)
    for name in ("ca.crt", "ca.key", "admin.crt", "admin.key"):
        assert after[name] == before[name], name
    assert after["apiserver.crt"] != before["apiserver.crt"]
    assert after["apiserver.key"] != before["apiserver.key"]
    crt = _cert(p2.apiserver_cert)
    crt.verify_directly_issued_by(_cert(p2.ca_cert))
    ips, names = _sans(crt)
    assert "192.0.2.10" in ips and "kubeloop.test" in names
    assert stat.S_IMODE(p2.apiserver_key.stat().st_mode) == 0o600

    # removing a SAN is also a change
    p3 = ensure_pki(tmp_path, server_ips=IPS, server_names=NAMES)
    assert p3.generated == {"apiserver"}
    assert _sans(_cert(p3.apiserver_cert)) == (set(IPS), set(NAMES))


def test_mismatched_pair_is_repaired(pki: Pki, tmp_path: Path) -> None:
    # simulates a crash between writing the new key and the new certificate
    before = _snapshot(pki)
    other_key = ec.generate_private_key(ec.SECP256R1())
    atomic_write(pki.admin_key, pki_mod._key_pem(other_key))
    p2 = ensure_pki(tmp_path, server_ips=IPS, server_names=NAMES)
    assert p2.generated == {"admin"}
    assert _snapshot(p2)["apiserver.crt"] == before["apiserver.crt"]
    assert pki_mod._load_pair(p2.admin_cert, p2.admin_key) is not None


def test_garbage_file_is_regenerated(pki: Pki, tmp_path: Path) -> None:
    pki.apiserver_cert.write_bytes(b"-----BEGIN CERTIFICATE-----\ntrunc")
    p2 = ensure_pki(tmp_path, server_ips=IPS, server_names=NAMES)
    assert p2.generated == {"apiserver"}


def test_new_ca_reissues_everything(pki: Pki, tmp_path: Path) -> None:
    old_ca = pki.ca_cert.read_bytes()
    pki.ca_key.unlink()
    p2 = ensure_pki(tmp_path, server_ips=IPS, server_names=NAMES)
    assert p2.generated == {"ca", "apiserver", "admin"}
    assert p2.ca_cert.read_bytes() != old_ca
    ca = _cert(p2.ca_cert)
    _cert(p2.apiserver_cert).verify_directly_issued_by(ca)
    _cert(p2.admin_cert).verify_directly_issued_by(ca)


def test_expiring_leaf_certs_are_renewed(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_now = pki_mod._now
    monkeypatch.setattr(pki_mod, "_now", lambda: real_now() + dt.timedelta(days=350))
    p2 = ensure_pki(tmp_path, server_ips=IPS, server_names=NAMES)
    assert p2.generated == {"apiserver", "admin"}
    monkeypatch.setattr(pki_mod, "_now", lambda: real_now() + dt.timedelta(days=3640))
    p3 = ensure_pki(tmp_path, server_ips=IPS, server_names=NAMES)
    assert p3.generated == {"ca", "apiserver", "admin"}


def test_requires_a_san(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ensure_pki(tmp_path, server_ips=[], server_names=[])
    with pytest.raises(ValueError):
        ensure_pki(tmp_path, server_ips=["not-an-ip"], server_names=[])


def test_atomic_write_keeps_old_content_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.key"
    atomic_write(target, b"old")

    def boom(*a, **kw):
        raise OSError("disk full")

    monkeypatch.setattr(pki_mod.os, "fsync", boom)
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.key"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


# --------------------------------------------------------------------------
# identities
# --------------------------------------------------------------------------


def test_identity_from_peercert() -> None:
    peer = {
        "subject": (
            (("organizationName", "system:masters"),),
            (("organizationName", "devs"),),
            (("commonName", "alice"),),
        )
    }
    assert identity_from_peercert(peer) == ("alice", ["system:masters", "devs"])
    assert identity_from_peercert({"subject": ((("commonName", "bob"),),)}) == ("bob", [])
    # multi-valued RDN
    assert identity_from_peercert({"subject": ((("commonName", "c"), ("organizationName", "g")),)}) == ("c", ["g"])
    assert identity_from_peercert({"subject": ((("organizationName", "g"),),)}) is None
    assert identity_from_peercert({}) is None
    assert identity_from_peercert(None) is None


# --------------------------------------------------------------------------
# real TLS
# --------------------------------------------------------------------------


async def _whoami(request: web.Request) -> web.Response:
    ident = identity_from_peercert(request.transport.get_extra_info("peercert"))
    if ident is None:
        return web.json_response({"user": None}, status=401)
    return web.json_response({"user": ident[0], "groups": ident[1]})


@pytest.fixture
async def tls_server(pki: Pki):
    app = web.Application()
    app.router.add_get("/whoami", _whoami)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(pki))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"https://127.0.0.1:{port}", port
    finally:
        await runner.cleanup()


async def _get(url: str, ctx: ssl.SSLContext, **kw) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/whoami", ssl=ctx, **kw) as r:
            return r.status, await r.json()


async def test_tls_admin_identity(pki: Pki, tls_server) -> None:
    url, _ = tls_server
    ctx = client_ssl_context(pki, pki.admin_cert, pki.admin_key)
    assert await _get(url, ctx) == (200, {"user": "kubernetes-admin", "groups": ["system:masters"]})


async def test_tls_strict_verification_and_dns_name(pki: Pki, tls_server) -> None:
    url, _ = tls_server
    ctx = client_ssl_context(pki, *pki.admin_pem())  # PEM bytes work too
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT  # the default from Python 3.13 on
    status, body = await _get(url, ctx, server_hostname="kubernetes.default.svc")
    assert status == 200 and body["user"] == "kubernetes-admin"


async def test_tls12_client_cert(pki: Pki, tls_server) -> None:
    url, _ = tls_server
    ctx = client_ssl_context(pki, pki.admin_cert, pki.admin_key)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    assert (await _get(url, ctx))[0] == 200


async def test_tls_node_identity(pki: Pki, tls_server) -> None:
    url, _ = tls_server
    ctx = client_ssl_context(pki, *pki.issue_node_cert("n1"))
    assert await _get(url, ctx) == (200, {"user": "system:node:n1", "groups": ["system:nodes"]})


async def test_tls_anonymous_connects_without_identity(pki: Pki, tls_server) -> None:
    url, _ = tls_server
    assert await _get(url, client_ssl_context(pki)) == (401, {"user": None})


async def test_tls_foreign_client_cert_rejected(pki: Pki, tls_server, tmp_path: Path) -> None:
    url, _ = tls_server
    other = ensure_pki(tmp_path / "other", server_ips=IPS, server_names=NAMES)
    ctx = client_ssl_context(pki, other.admin_cert, other.admin_key)
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        await _get(url, ctx)


async def test_tls_client_rejects_foreign_server(pki: Pki, tls_server, tmp_path: Path) -> None:
    url, _ = tls_server
    other = ensure_pki(tmp_path / "other", server_ips=IPS, server_names=NAMES)
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await _get(url, client_ssl_context(other))


async def _curl(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-w", "\n%{http_code}", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    body, _, code = out.decode().rpartition("\n")
    return int(code), body, err.decode()


@needs_curl
async def test_curl_with_client_cert(pki: Pki, tls_server) -> None:
    url, port = tls_server
    code, body, _ = await _curl(
        "--cacert", str(pki.ca_cert), "--cert", str(pki.admin_cert), "--key", str(pki.admin_key), url + "/whoami"
    )
    assert code == 200
    assert json.loads(body) == {"user": "kubernetes-admin", "groups": ["system:masters"]}

    # by DNS name from the SAN list, and anonymously
    code, body, _ = await _curl(
        "--cacert", str(pki.ca_cert), "--resolve", f"kubernetes.default:{port}:127.0.0.1",
        f"https://kubernetes.default:{port}/whoami",
    )  # fmt: skip
    assert code == 401 and json.loads(body) == {"user": None}
