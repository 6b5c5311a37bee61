"""The cluster's certificate authority and the certificates it issues.

``ensure_pki`` creates, or reuses, everything kubeloop needs for TLS under
``<data_dir>/pki/`` (directory mode 0700):

* ``ca.crt`` / ``ca.key`` -- a self-signed CA, CN ``kubeloop-ca``, 10 years;
* ``apiserver.crt`` / ``apiserver.key`` -- the API server's serving
  certificate (EKU serverAuth, 1 year) whose subject alternative names are
  exactly the IPs and DNS names the caller asks for;
* ``admin.crt`` / ``admin.key`` -- the cluster administrator's client
  certificate (CN ``kubernetes-admin``, O ``system:masters``, EKU clientAuth).

All keys are ECDSA P-256 (instant to generate; kubectl, curl/OpenSSL and
Python's ``ssl`` all accept them).  Key files are mode 0600, certificates
0644, and every file is written atomically (temporary file, fsync, rename),
so a crash never leaves half a file behind: at worst a key is newer than its
certificate, which the next run notices (the pair no longer matches) and
repairs.

Reuse rules: an existing file set is kept when it parses, each certificate
matches its key, is issued by the current CA and is not within
``RENEW_BEFORE`` of expiry.  A new CA forces new leaf certificates.  The
serving certificate is also regenerated when the requested SAN set differs
from the one it carries (names compare case-insensitively, IPs by value);
nothing else is touched in that case.

The identity model follows Kubernetes' x509 authenticator: the user name is
the certificate's CN and the groups are its O values.  ``server_ssl_context``
asks for, but does not require, a client certificate (``CERT_OPTIONAL``):
a certificate that does not chain to the CA fails the handshake, no
certificate at all yields an anonymous connection the application can
answer with 401.  ``identity_from_peercert`` turns
``transport.get_extra_info("peercert")`` into ``(user, groups)``.
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import ipaddress
import os
import shutil
import ssl
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "ADMIN_GROUP",
    "ADMIN_USER",
    "CA_COMMON_NAME",
    "NODE_GROUP",
    "Pki",
    "atomic_write",
    "client_ssl_context",
    "default_server_sans",
    "ensure_pki",
    "identity_from_peercert",
    "server_ssl_context",
]

CA_COMMON_NAME = "kubeloop-ca"
APISERVER_COMMON_NAME = "kube-apiserver"
ADMIN_USER = "kubernetes-admin"
ADMIN_GROUP = "system:masters"
NODE_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"

CA_VALIDITY = _dt.timedelta(days=3650)
LEAF_VALIDITY = _dt.timedelta(days=365)
#: Certificates expiring sooner than this are renewed by ``ensure_pki``.
RENEW_BEFORE = _dt.timedelta(days=30)
#: Back-date ``notBefore`` a little to tolerate small clock differences.
BACKDATE = _dt.timedelta(minutes=5)

_KEY_MODE = 0o600
_CERT_MODE = 0o644
_DIR_MODE = 0o700


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------


def atomic_write(
    path: Path | str,
    data: bytes,
    *,
    mode: int = 0o600,
    uid: int | None = None,
    gid: int | None = None,
) -> None:
    """Replace ``path`` with ``data`` atomically.

    The data goes to a temporary file in the same directory which gets
    ``mode`` (and, if given, ownership) *before* any byte is written, is
    fsynced and then renamed over ``path``; the directory is fsynced too.
    Readers see either the old or the new content, never a mix.
    """
    path = Path(path)
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        if uid is not None or gid is not None:
            os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError as e:  # some filesystems refuse fsync on directories
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(dfd)


@contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    """Serialize concurrent ``ensure_pki`` calls on the same directory."""
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


# --------------------------------------------------------------------------
# The Pki handle
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """Paths of the cluster's PKI files (see the module docstring)."""

    dir: Path
    ca_cert: Path
    ca_key: Path
    apiserver_cert: Path
    apiserver_key: Path
    admin_cert: Path
    admin_key: Path
    #: Which of ``"ca"``, ``"apiserver"``, ``"admin"`` the ``ensure_pki``
    #: call that returned this handle (re)generated; empty on full reuse.
    generated: frozenset[str] = field(default=frozenset(), compare=False)

    @classmethod
    def at(cls, pki_dir: Path | str) -> "Pki":
        """The handle for an existing ``pki`` directory (nothing is checked)."""
        d = Path(pki_dir)
        return cls(
            dir=d,
            ca_cert=d / "ca.crt",
            ca_key=d / "ca.key",
            apiserver_cert=d / "apiserver.crt",
            apiserver_key=d / "apiserver.key",
            admin_cert=d / "admin.crt",
            admin_key=d / "admin.key",
        )

    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()

    def admin_pem(self) -> tuple[bytes, bytes]:
        """``(cert_pem, key_pem)`` of the admin client certificate."""
        return self.admin_cert.read_bytes(), self.admin_key.read_bytes()

    def issue_client_cert(
        self,
        name: str,
        groups: list[str],
        *,
        validity: _dt.timedelta = LEAF_VALIDITY,
    ) -> tuple[bytes, bytes]:
        """Issue a client certificate with CN ``name`` and one O per group.

        ``name`` is the full user name the authenticator will see (for a node
        agent ``system:node:<node>``, see ``issue_node_cert``).  Nothing is
        written to disk; returns ``(cert_pem, key_pem)``.
        """
        if not name:
            raise ValueError("client certificate needs a non-empty name")
        ca_cert, ca_key = self._load_ca()
        key = _new_key()
        cert = _issue_leaf(
            ca_cert,
            ca_key,
            key,
            _subject(name, groups),
            validity=validity,
            eku=ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        return _cert_pem(cert), _key_pem(key)

    def issue_serving_cert(self, name: str, *, ips: list[str], names: list[str]) -> tuple[bytes, bytes]:
        """A serving certificate (EKU serverAuth) for a node agent's :10250; ``(cert_pem, key_pem)``."""
        ca_cert, ca_key = self._load_ca()
        key = _new_key()
        cert = _issue_leaf(ca_cert, ca_key, key, _subject(name, []), validity=LEAF_VALIDITY,
                           eku=ExtendedKeyUsageOID.SERVER_AUTH, sans=_normalize_sans(ips, names))
        return _cert_pem(cert), _key_pem(key)

    def issue_node_cert(self, node_name: str) -> tuple[bytes, bytes]:
        """Client certificate for a node agent: ``system:node:<node_name>`` in ``system:nodes``."""
        return self.issue_client_cert(NODE_USER_PREFIX + node_name, [NODE_GROUP])

    def _load_ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):  # pragma: no cover - we only write EC keys
            raise ValueError(f"{self.ca_key}: not an EC private key")
        return cert, key


# --------------------------------------------------------------------------
# ensure_pki
# --------------------------------------------------------------------------


def default_server_sans(
    extra_ips: Sequence[str] = (), extra_names: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """The usual ``(server_ips, server_names)`` for kubeloop's API server.

    ``10.96.0.1`` is the ``kubernetes`` Service's cluster IP; ``::1`` is
    included because ``localhost`` may resolve to it.
    """
    ips = ["127.0.0.1", "::1", "10.96.0.1", *extra_ips]
    names = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        *extra_names,
    ]
    return list(dict.fromkeys(ips)), list(dict.fromkeys(names))


def ensure_pki(data_dir: Path | str, *, server_ips: list[str], server_names: list[str]) -> Pki:
    """Create or reuse the CA, serving and admin certificates under ``data_dir/pki``."""
    pki = Pki.at(Path(data_dir) / "pki")
    pki.dir.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    os.chmod(pki.dir, _DIR_MODE)
    want_sans = _normalize_sans(server_ips, server_names)
    if not want_sans:
        raise ValueError("the serving certificate needs at least one IP or DNS name")
    now = _now()
    generated: set[str] = set()

    with _dir_lock(pki.dir):
        # --- CA --------------------------------------------------------
        loaded = _load_pair(pki.ca_cert, pki.ca_key)
        ca_ok = loaded is not None and _ca_usable(loaded[0], now)
        if ca_ok:
            ca_cert, ca_key = loaded  # type: ignore[misc]
        else:
            ca_key = _new_key()
            ca_cert = _make_ca(ca_key, now)
            _write_pair(pki.ca_cert, pki.ca_key, ca_cert, ca_key)
            generated.add("ca")

        # --- API server serving certificate ----------------------------
        loaded = _load_pair(pki.apiserver_cert, pki.apiserver_key)
        if (
            loaded is None
            or not _leaf_usable(loaded[0], ca_cert, now, ExtendedKeyUsageOID.SERVER_AUTH)
            or _cert_sans(loaded[0]) != want_sans
        ):
            key = _new_key()
            cert = _issue_leaf(
                ca_cert,
                ca_key,
                key,
                _subject(APISERVER_COMMON_NAME, []),
                validity=LEAF_VALIDITY,
                eku=ExtendedKeyUsageOID.SERVER_AUTH,
                sans=want_sans,
                now=now,
            )
            _write_pair(pki.apiserver_cert, pki.apiserver_key, cert, key)
            generated.add("apiserver")

        # --- admin client certificate ----------------------------------
        loaded = _load_pair(pki.admin_cert, pki.admin_key)
        if (
            loaded is None
            or not _leaf_usable(loaded[0], ca_cert, now, ExtendedKeyUsageOID.CLIENT_AUTH)
            or _identity_of(loaded[0]) != (ADMIN_USER, [ADMIN_GROUP])
        ):
            key = _new_key()
            cert = _issue_leaf(
                ca_cert,
                ca_key,
                key,
                _subject(ADMIN_USER, [ADMIN_GROUP]),
                validity=LEAF_VALIDITY,
                eku=ExtendedKeyUsageOID.CLIENT_AUTH,
                now=now,
            )
            _write_pair(pki.admin_cert, pki.admin_key, cert, key)
            generated.add("admin")

    return replace(pki, generated=frozenset(generated))


# --------------------------------------------------------------------------
# Certificate building and checking
# --------------------------------------------------------------------------

_SanSet = frozenset[tuple[str, str]]


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _subject(common_name: str, organizations: list[str]) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _normalize_sans(ips: list[str], names: list[str]) -> _SanSet:
    out: set[tuple[str, str]] = set()
    for ip in ips:
        out.add(("ip", str(ipaddress.ip_address(ip))))
    for name in names:
        n = name.strip().rstrip(".").lower()
        if not n:
            raise ValueError(f"invalid DNS name {name!r}")
        out.add(("dns", n))
    return frozenset(out)


def _cert_sans(cert: x509.Certificate) -> _SanSet:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return frozenset()
    out = {("ip", str(ip)) for ip in san.get_values_for_type(x509.IPAddress)}
    out |= {("dns", n.lower()) for n in san.get_values_for_type(x509.DNSName)}
    return frozenset(out)


def _make_ca(key: ec.EllipticCurvePrivateKey, now: _dt.datetime) -> x509.Certificate:
    name = _subject(CA_COMMON_NAME, [])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )


def _issue_leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    *,
    validity: _dt.timedelta,
    eku: x509.ObjectIdentifier,
    sans: _SanSet = frozenset(),
    now: _dt.datetime | None = None,
) -> x509.Certificate:
    now = now or _now()
    not_after = min(now + validity, ca_cert.not_valid_after_utc)
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:  # pragma: no cover - our CA always has one
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(aki, critical=False)
    )
    if sans:
        names = sorted(v for k, v in sans if k == "dns")
        ips = sorted((ipaddress.ip_address(v) for k, v in sans if k == "ip"), key=lambda a: (a.version, a.packed))
        general: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        general += [x509.IPAddress(a) for a in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """Load a certificate and its key; None if missing, unreadable or mismatched."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        return None
    return cert, key


def _in_validity(cert: x509.Certificate, now: _dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now and now + RENEW_BEFORE < cert.not_valid_after_utc


def _ca_usable(cert: x509.Certificate, now: _dt.datetime) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        cert.verify_directly_issued_by(cert)
    except Exception:  # InvalidSignature, ValueError, ExtensionNotFound, ...
        return False
    return bc.ca and _in_validity(cert, now)


def _leaf_usable(cert: x509.Certificate, ca: x509.Certificate, now: _dt.datetime, eku: x509.ObjectIdentifier) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except Exception:  # InvalidSignature, ValueError, ExtensionNotFound, ...
        return False
    return eku in usages and _in_validity(cert, now)


def _identity_of(cert: x509.Certificate) -> tuple[str, list[str]] | None:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cns:
        return None
    groups = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return str(cns[0].value), groups


def _write_pair(cert_path: Path, key_path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    # Key first: a crash in between leaves a mismatched pair, which the next
    # ensure_pki detects and regenerates.
    atomic_write(key_path, _key_pem(key), mode=_KEY_MODE)
    atomic_write(cert_path, _cert_pem(cert), mode=_CERT_MODE)


# --------------------------------------------------------------------------
# TLS contexts and identities
# --------------------------------------------------------------------------


def server_ssl_context(pki: Pki) -> ssl.SSLContext:
    """TLS server context for the API server.

    Presents ``apiserver.crt`` and requests (``CERT_OPTIONAL``) a client
    certificate verified against the CA.  Connections without one succeed
    and carry no peer certificate; ones with a certificate that does not
    chain to the CA are refused during the handshake.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pki.apiserver_cert, pki.apiserver_key)
    ctx.load_verify_locations(cafile=str(pki.ca_cert))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def client_ssl_context(
    pki: Pki,
    cert: Path | str | bytes | None = None,
    key: Path | str | bytes | None = None,
) -> ssl.SSLContext:
    """TLS client context trusting only the cluster CA.

    ``cert``/``key`` are the client certificate and key, as file paths or as
    PEM bytes; leave both out for an anonymous client.  Hostname checking
    stays on, so connect to a name or IP in the serving certificate.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cadata=pki.ca_pem().decode("ascii"))
    if (cert is None) != (key is None):
        raise ValueError("client_ssl_context needs both cert and key, or neither")
    if cert is not None and key is not None:
        if isinstance(cert, bytes) or isinstance(key, bytes):
            _load_chain_from_pem(ctx, cert, key)
        else:
            ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _load_chain_from_pem(ctx: ssl.SSLContext, cert: Path | str | bytes, key: Path | str | bytes) -> None:
    """``load_cert_chain`` only reads files: stage PEM bytes in a private temp dir."""
    tmpdir = tempfile.mkdtemp(prefix="kubeloop-tls-")  # mode 0700
    try:
        paths = []
        for name, value in (("tls.crt", cert), ("tls.key", key)):
            if isinstance(value, bytes):
                p = os.path.join(tmpdir, name)
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(value)
                paths.append(p)
            else:
                paths.append(str(value))
        ctx.load_cert_chain(paths[0], paths[1])
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def identity_from_peercert(peercert: dict | None) -> tuple[str, list[str]] | None:
    """``(user, groups)`` from ``SSLSocket.getpeercert()`` output, or None.

    As Kubernetes' x509 authenticator does: the user is the subject's
    common name, the groups its organization values (in order).  None when
    there is no (verified) certificate or it has no CN.
    """
    if not peercert:
        return None
    user: str | None = None
    groups: list[str] = []
    for rdn in peercert.get("subject", ()):
        for attr, value in rdn:
            if attr == "commonName" and user is None:
                user = value
            elif attr == "organizationName":
                groups.append(value)
    if not user:
        return None
    return user, groups
