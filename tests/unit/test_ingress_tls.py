"""Unit tests of kubeloop.ingress.tls: TLS Secrets checked before nginx loads them."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from kubeloop.ingress.tls import DEFAULT_CN, TLSSecretError, default_certificate, pem_from_secret, subject_cn


def split(pem: bytes) -> tuple[bytes, bytes]:
    i = pem.index(b"-----BEGIN CERTIFICATE-----")
    return pem[i:], pem[:i]


def secret(crt: bytes | None, key: bytes | None) -> dict:
    data = {}
    if crt is not None:
        data["tls.crt"] = base64.b64encode(crt).decode()
    if key is not None:
        data["tls.key"] = base64.b64encode(key).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "s", "namespace": "default"}, "data": data}


def test_default_certificate_is_self_signed_with_key() -> None:
    pem = default_certificate()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert subject_cn(pem) == DEFAULT_CN
    crt, key = split(pem)
    assert pem_from_secret(secret(crt, key)).count(b"BEGIN CERTIFICATE") == 1


def test_valid_secret_gives_key_then_chain() -> None:
    crt, key = split(default_certificate("kubia.example.com"))
    other_crt, _ = split(default_certificate("ca"))
    out = pem_from_secret(secret(crt + other_crt, key))
    assert out.startswith(b"-----BEGIN PRIVATE KEY-----") and out.count(b"BEGIN CERTIFICATE") == 2
    assert subject_cn(out) == "kubia.example.com"


@pytest.mark.parametrize("make,message", [
    (lambda c, k, k2: secret(c, k2), "does not match"),
    (lambda c, k, k2: secret(b"garbage", k), "no valid PEM certificate"),
    (lambda c, k, k2: secret(c, b"garbage"), "no valid unencrypted PEM private key"),
    (lambda c, k, k2: secret(None, k), "no tls.crt"),
    (lambda c, k, k2: secret(c, None), "no tls.key"),
    (lambda c, k, k2: {"data": {"tls.crt": "!!!", "tls.key": "x"}}, "not valid base64"),
    (lambda c, k, k2: secret(c, serialization.load_pem_private_key(k, None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"))), "no valid unencrypted"),
    (lambda c, k, k2: secret(c, ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
     "only RSA and EC"),
])
def test_bad_secrets_are_refused(make, message: str) -> None:  # type: ignore[no-untyped-def]
    crt, key = split(default_certificate("a"))
    _, key2 = split(default_certificate("b"))
    with pytest.raises(TLSSecretError, match=message):
        pem_from_secret(make(crt, key, key2))
