"""The Snowflake destination service user's RSA key pair and the Secrets Manager secret that holds it:
generating the key (encrypted PKCS8 PEM with a random passphrase unless the caller asks otherwise),
Snowflake's fingerprint of its public key, and reading and storing the secret (JSON {"user",
"private_key", "passphrase"}). Key material never appears in a repr or an error message; the
destination phase (destination.py) and the key rotation (user_key_rotation.py) use these.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets as pysecrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openflow_autopilot.aws.calls import denied, error_code, retryable
from openflow_autopilot.aws.secret_owner import owner_tags
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.errors import AwsRetryableError, PermissionDenied

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

KEY_BITS = 2048
COMMENT = "managed by openflow-autopilot"


def service_key_secret_name(request: ProvisionRequest, prefix: str = "openflow-autopilot/") -> str:
    """Where the service user's private key is kept (the caller may choose another name)."""
    return f"{prefix}{request.name}/service-user"


# -- keys -------------------------------------------------------------------------------------------
def fingerprint(public_der: bytes) -> str:
    """Snowflake's RSA_PUBLIC_KEY_FP: 'SHA256:' + base64 of the SHA-256 of the DER public key."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(public_der).digest()).decode()


@dataclass(frozen=True)
class ServiceKey:
    """A service user's key pair as stored in Secrets Manager. repr never shows key material."""

    user: str
    private_key_pem: str = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)

    def _private(self) -> Any:
        from cryptography.hazmat.primitives import serialization

        password = self.passphrase.encode() if self.passphrase else None
        return serialization.load_pem_private_key(self.private_key_pem.encode(), password=password)

    @property
    def public_der(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        der: bytes = (
            self._private()
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        return der

    @property
    def public_key_body(self) -> str:
        """The value ALTER USER ... SET RSA_PUBLIC_KEY takes: base64 DER without PEM armour."""
        return base64.b64encode(self.public_der).decode()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_der)

    def private_key_der(self) -> bytes:
        """Unencrypted PKCS8 DER, as snowflake.connector.connect(private_key=...) takes it."""
        from cryptography.hazmat.primitives import serialization

        der: bytes = self._private().private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return der

    def to_secret_string(self) -> str:
        data = {"user": self.user, "private_key": self.private_key_pem}
        if self.passphrase:
            data["passphrase"] = self.passphrase
        return json.dumps(data)

    @classmethod
    def from_secret_string(cls, text: str) -> ServiceKey:
        """Parse and check a stored key; ValueError (without key material) when it is unusable."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("the secret is not JSON") from None
        if not isinstance(data, dict) or not data.get("user") or not data.get("private_key"):
            raise ValueError("the secret lacks 'user' or 'private_key'")
        key = cls(str(data["user"]), str(data["private_key"]), data.get("passphrase") or None)
        try:
            key._private()
        except (ValueError, TypeError):
            raise ValueError(
                "the stored private key cannot be read (wrong passphrase or not a PEM key)"
            ) from None
        return key


def generate_service_key(user: str, *, encrypt: bool = True, bits: int = KEY_BITS) -> ServiceKey:
    """A new RSA key pair; the PEM is encrypted PKCS8 with a random passphrase unless encrypt=False."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if bits < KEY_BITS:
        raise ValueError(f"RSA keys must have at least {KEY_BITS} bits")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    passphrase = pysecrets.token_urlsafe(32) if encrypt else None
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()
    return ServiceKey(user=user, private_key_pem=pem, passphrase=passphrase)


# -- Secrets Manager --------------------------------------------------------------------------------
def _aws_error(exc: Exception, call: str, secret_name: str) -> Exception:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return exc
    if denied(exc):
        return PermissionDenied(
            f"Secrets Manager refused {call} on {secret_name}",
            call=f"secretsmanager:{call}",
            fix=f"allow the function's role secretsmanager:{call} on openflow-autopilot/* secrets",
        )
    if retryable(exc):
        return AwsRetryableError(
            f"Secrets Manager {call} failed transiently ({error_code(exc)})", call=f"secretsmanager:{call}"
        )
    return exc


@dataclass(frozen=True)
class StoredKey:
    arn: str | None  # None: the secret does not exist
    key: ServiceKey | None  # None: missing or unusable
    problem: str | None = None  # why an existing secret's key is unusable


def read_service_key(secrets: SecretsManagerClient, secret_name: str) -> StoredKey:
    from botocore.exceptions import ClientError

    try:
        value = secrets.get_secret_value(SecretId=secret_name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return StoredKey(arn=None, key=None)
        raise _aws_error(exc, "GetSecretValue", secret_name) from None
    arn = str(value["ARN"])
    try:
        return StoredKey(arn=arn, key=ServiceKey.from_secret_string(str(value.get("SecretString") or "")))
    except ValueError as exc:
        return StoredKey(arn=arn, key=None, problem=str(exc))


def store_service_key(
    secrets: SecretsManagerClient, secret_name: str, key: ServiceKey, *, exists: bool, deployment: str
) -> str:
    """Create the secret, or add a new version (AWSCURRENT moves to it); returns the ARN."""
    from botocore.exceptions import ClientError

    try:
        if exists:
            secrets.put_secret_value(SecretId=secret_name, SecretString=key.to_secret_string())
            return str(secrets.describe_secret(SecretId=secret_name)["ARN"])
        created = secrets.create_secret(
            Name=secret_name,
            Description=f"Snowflake key pair of service user {key.user} ({COMMENT})",
            SecretString=key.to_secret_string(),
            Tags=owner_tags(deployment),
        )
        return str(created["ARN"])
    except ClientError as exc:
        raise _aws_error(exc, "PutSecretValue" if exists else "CreateSecret", secret_name) from None
