"""Login checks: key-pair JWTs verified for real, passwords compared against a stored hash."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

from .state import User

_PEM_ARMOR = re.compile(r"-----(BEGIN|END) [A-Z ]+-----")


def normalize_public_key(text: str) -> str:
    """The base64 DER body Snowflake stores for RSA_PUBLIC_KEY (PEM armour and whitespace removed).

    Raises ValueError when the text is not an RSA public key.
    """
    body = "".join(_PEM_ARMOR.sub("", text).split())
    try:
        key = load_der_public_key(base64.b64decode(body, validate=True))
    except (ValueError, TypeError) as exc:
        raise ValueError("not a base64-encoded public key") from exc
    if not isinstance(key, RSAPublicKey):
        raise ValueError("not an RSA public key")
    return base64.b64encode(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()


def fingerprint(body: str) -> str:
    """Snowflake's RSA_PUBLIC_KEY_FP: ``SHA256:`` + base64 of the SHA-256 of the DER public key."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(base64.b64decode(body)).digest()).decode()


def hash_password(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def password_matches(user: User, password: str | None) -> bool:
    if user.password_hash is None or password is None:
        return False
    return hmac.compare_digest(user.password_hash, hash_password(password))


def jwt_matches(user: User, token: str | None, account: str) -> bool:
    """Whether ``token`` is an RS256 JWT for this account and user, signed by one of its keys.

    Mirrors the checks Snowflake documents for key-pair auth: the signature verifies against
    RSA_PUBLIC_KEY or RSA_PUBLIC_KEY_2, ``sub`` is ``ACCOUNT.USER`` and ``iss`` is
    ``ACCOUNT.USER.SHA256:<fingerprint of that key>``; ``exp``/``iat`` must be present and valid.
    """
    if not token:
        return False
    # the connector sends the account part before any region/cloud suffix, upper-cased
    subject = f"{account.partition('.')[0].upper()}.{user.login_name.upper()}"
    for body in (user.rsa_public_key, user.rsa_public_key_2):
        if body is None:
            continue
        key = load_der_public_key(base64.b64decode(body))
        if not isinstance(key, RSAPublicKey):
            continue
        try:
            claims = jwt.decode(
                token, key, algorithms=["RS256"], options={"require": ["exp", "iat", "iss", "sub"]}, leeway=60
            )
        except jwt.PyJWTError:
            continue
        if claims["sub"].upper() == subject and claims["iss"] == f"{subject}.{fingerprint(body)}":
            return True
    return False
