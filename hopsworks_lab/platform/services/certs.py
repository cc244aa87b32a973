"""Internal certificate authority: one X.509 certificate per project-user
(CN=``project__user``), revoked with the membership, listed in a published CRL."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import validation
from ..config import PlatformConfig
from ..db import Database
from ..models import Certificate, Project, User, utcnow
from ..security import write_private

CRL_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class CertificateBundle:
    common_name: str
    serial: str
    not_after: datetime
    certificate: str  # PEM
    private_key: str  # PEM, encrypted with ``password``
    password: str
    ca: str  # PEM


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


class CertificateAuthority:
    def __init__(self, db: Database, config: PlatformConfig, fernet: Fernet) -> None:
        self.db, self.config, self.fernet = db, config, fernet
        self.dir: Path = config.ca_dir
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._cert: x509.Certificate | None = None

    @property
    def key_path(self) -> Path:
        return self.dir / "ca.key"

    @property
    def cert_path(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def crl_path(self) -> Path:
        return self.dir / "crl.pem"

    def exists(self) -> bool:
        return self.key_path.exists() and self.cert_path.exists()

    def create(self) -> None:
        """Create the CA once; later calls keep the existing one."""
        if self.exists():
            return
        key = _new_key()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.config.organisation),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{self.config.organisation} CA"),
            ]
        )
        now = utcnow()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=self.config.ca_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
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
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        write_private(
            self.key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        with self.db.transaction() as s:
            self._publish(s, key, cert)

    def _load(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        if self._key is None or self._cert is None:
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            self._key = key
            self._cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        return self._key, self._cert

    def ca_pem(self) -> str:
        return self.cert_path.read_text()

    # -- issue / revoke (inside the caller's transaction) ---------------------------------
    def issue(self, s: Session, project: Project, user: User) -> Certificate:
        ca_key, ca_cert = self._load()
        key = _new_key()
        cn = validation.project_user(project.name, user.username)
        now = utcnow()
        not_after = now + timedelta(days=self.config.certificate_days)
        serial = x509.random_serial_number()
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.config.organisation),
                        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, project.name),
                        x509.NameAttribute(NameOID.COMMON_NAME, cn),
                    ]
                )
            )
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        password = secrets.token_urlsafe(24)
        row = Certificate(
            serial=format(serial, "x"),
            project_id=project.id,
            project_name=project.name,
            username=user.username,
            common_name=cn,
            cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(password.encode()),
            ).decode(),
            key_password=self.fernet.encrypt(password.encode()).decode(),
            not_before=now - timedelta(minutes=5),
            not_after=not_after,
        )
        s.add(row)
        s.flush()
        return row

    def revoke(
        self,
        s: Session,
        project: Project,
        username: str | None = None,
        reason: str = "cessationOfOperation",
    ) -> list[str]:
        """Revoke the project's live certificates (of one user, or all). Returns serials."""
        q = select(Certificate).where(
            Certificate.project_id == project.id, Certificate.revoked_at.is_(None)
        )
        if username is not None:
            q = q.where(Certificate.username == username)
        now = utcnow()
        serials = []
        for row in s.execute(q).scalars():
            row.revoked_at, row.revocation_reason = now, reason
            serials.append(row.serial)
        s.flush()
        return serials

    def live(self, s: Session, project: Project, username: str) -> Certificate | None:
        return s.execute(
            select(Certificate)
            .where(
                Certificate.project_id == project.id,
                Certificate.username == username,
                Certificate.revoked_at.is_(None),
            )
            .order_by(Certificate.id.desc())
        ).scalar()

    def bundle(self, row: Certificate) -> CertificateBundle:
        return CertificateBundle(
            common_name=row.common_name,
            serial=row.serial,
            not_after=row.not_after,
            certificate=row.cert_pem,
            private_key=row.key_pem,
            password=self.fernet.decrypt(row.key_password.encode()).decode(),
            ca=self.ca_pem(),
        )

    # -- CRL --------------------------------------------------------------------------------
    def _build_crl(
        self, s: Session, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
    ) -> bytes:
        now = utcnow()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(now)
            .next_update(now + CRL_LIFETIME)
        )
        rows = s.execute(
            select(Certificate).where(Certificate.revoked_at.is_not(None)).order_by(Certificate.id)
        ).scalars()
        for row in rows:
            assert row.revoked_at is not None
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(int(row.serial, 16))
                .revocation_date(row.revoked_at)
                .build()
            )
        return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def _publish(
        self, s: Session, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
    ) -> bytes:
        pem = self._build_crl(s, ca_key, ca_cert)
        write_private(self.crl_path, pem)
        self.crl_path.chmod(0o644)  # a CRL is public
        return pem

    def publish_crl(self) -> bytes:
        """Rebuild the CRL from the database and write it to ``ca/crl.pem``."""
        ca_key, ca_cert = self._load()
        with self.db.transaction() as s:
            return self._publish(s, ca_key, ca_cert)
