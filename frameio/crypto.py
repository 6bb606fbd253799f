"""Encryption at rest for the Frame.io OAuth tokens (Fernet: AES-128-CBC + HMAC-SHA256).

Key: FRAMEIO_TOKEN_KEY, one or more Fernet keys separated by commas (the first encrypts, every one
decrypts: add a new key in front, reconnect or let the next refresh re-encrypt, then drop the old one).
Unset, the key is derived from SECRET_KEY with HKDF-SHA256 (fixed salt and a purpose label), so the
token key is not SECRET_KEY itself and cannot be used to forge sessions or signatures. Changing
SECRET_KEY then makes the stored tokens unreadable: the connection asks for a reconnect.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_HKDF_SALT = b"postflow/frameio/token-key"
_HKDF_INFO = b"fernet key for Frame.io OAuth tokens, v1"


class TokenDecryptError(Exception):
    """A stored token cannot be decrypted with the configured key(s)."""


def derive_key(secret_key: str) -> bytes:
    """A Fernet key derived from `secret_key` with HKDF-SHA256."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


def _fernet() -> MultiFernet:
    configured = [k.strip() for k in (settings.FRAMEIO_TOKEN_KEY or "").split(",") if k.strip()]
    keys = configured or [derive_key(settings.SECRET_KEY)]
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode("ascii") if plaintext else ""


def decrypt(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    try:
        return _fernet().decrypt(ciphertext.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise TokenDecryptError(
            "stored Frame.io tokens cannot be decrypted (FRAMEIO_TOKEN_KEY or SECRET_KEY changed?)"
        ) from None
