"""TLS material for the ingress: Secrets checked before nginx sees them, and the default certificate.

`pem_from_secret` turns a `kubernetes.io/tls` Secret (base64 `tls.crt`, `tls.key`) into one PEM
blob (key, then the certificate chain) after checking what nginx would otherwise reject at
load time: both parts present, parseable, an RSA or EC key, and the key matching the leaf
certificate. A bad Secret raises TLSSecretError with a message meant for an Event.
`default_certificate` makes the self-signed certificate served for names without one (the
ingress-nginx "Fake Certificate"). Pure: bytes in, bytes out; files are the controller's job.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

Obj = dict[str, Any]

DEFAULT_CN = "Kubernetes Ingress Controller Fake Certificate"


class TLSSecretError(ValueError):
    pass


def _field(secret: Obj, name: str) -> bytes:
    data = secret.get("data") or {}
    if data.get(name):
        try:
            return base64.b64decode(data[name], validate=True)
        except (binascii.Error, ValueError):
            raise TLSSecretError(f"{name} is not valid base64") from None
    string_data = secret.get("stringData") or {}
    if string_data.get(name):
        return str(string_data[name]).encode()
    raise TLSSecretError(f"the secret has no {name}")


def _spki(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def pem_from_secret(secret: Obj) -> bytes:
    """Key and certificate chain of a TLS Secret as one PEM blob; TLSSecretError when unusable."""
    crt, key_pem = _field(secret, "tls.crt"), _field(secret, "tls.key")
    try:
        chain = x509.load_pem_x509_certificates(crt)
    except ValueError as e:
        raise TLSSecretError(f"tls.crt holds no valid PEM certificate: {e}") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as e:
        raise TLSSecretError(f"tls.key holds no valid unencrypted PEM private key: {e}") from None
    except Exception as e:  # cryptography raises UnsupportedAlgorithm for exotic keys
        raise TLSSecretError(f"tls.key cannot be used: {e}") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise TLSSecretError(f"tls.key is a {type(key).__name__}; only RSA and EC keys are supported")
    if _spki(chain[0].public_key()) != _spki(key.public_key()):
        raise TLSSecretError("tls.key does not match the certificate in tls.crt")
    key_out = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_out + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)


def subject_cn(pem: bytes) -> str:
    """The common name of the first certificate in a PEM blob ('' without one)."""
    cert = x509.load_pem_x509_certificates(pem[pem.index(b"-----BEGIN CERTIFICATE-----"):])[0]
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def default_certificate(common_name: str = DEFAULT_CN, days: int = 365) -> bytes:
    """A fresh self-signed certificate (EC P-256) with its key, as one PEM blob."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme Co"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("ingress.local")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM)
