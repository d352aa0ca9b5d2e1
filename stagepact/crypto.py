"""Encryption of personal fields, receipt codes and staff passwords.

Personal fields go through one column type, `EncryptedText`, which encrypts
with the first of the configured Fernet keys and decrypts with any of them,
so that keys can rotate. Receipt codes are stored only as a slow keyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import Text
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

RECEIPT_CODE_DIGITS = 16
MIN_PASSWORD_LENGTH = 12


def _fernets() -> tuple[MultiFernet, Fernet]:
    """All configured keys together, and the first (the one that encrypts) alone."""
    keys = current_app.config["ENCRYPTION_KEYS"]
    cached = current_app.extensions.get("stagepact_fernet")
    if cached is None or cached[0] != keys:
        fernets = [Fernet(key.encode()) for key in keys]
        cached = (list(keys), MultiFernet(fernets), fernets[0])
        current_app.extensions["stagepact_fernet"] = cached
    return cached[1], cached[2]


def _fernet() -> MultiFernet:
    return _fernets()[0]


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode("ascii")).decode("utf-8")


def encrypt_bytes(data: bytes) -> bytes:
    """A file's content, encrypted for storage on disk."""
    return _fernet().encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    return _fernet().decrypt(token)


def reencrypt(token: bytes) -> bytes | None:
    """`token` encrypted again under the first configured key, or None if it already is.

    Raises `InvalidToken` when none of the configured keys reads it.
    """
    every_key, first_key = _fernets()
    try:
        first_key.decrypt(token)
    except InvalidToken:
        return every_key.rotate(token)
    return None


class EncryptedText(TypeDecorator):
    """A text column stored as a Fernet token; the database never sees plaintext.

    Fernet tokens differ for the same text, so SQL cannot compare, search or order by such
    a column: `==`, `IN`, `LIKE`, `<` and the like raise instead of silently matching
    nothing. Look a value up by a keyed hash column (e.g. `User.with_email`), and sort in
    Python (`scoping.by_name`); `IS NULL` still works.
    """

    impl = Text
    cache_ok = True

    class NotComparable(TypeDecorator.Comparator):
        _refused = frozenset(
            {
                operators.eq,
                operators.ne,
                operators.in_op,
                operators.not_in_op,
                operators.like_op,
                operators.ilike_op,
                operators.contains_op,
                operators.startswith_op,
                operators.endswith_op,
                operators.lt,
                operators.le,
                operators.gt,
                operators.ge,
            }
        )

        def operate(self, op, *other, **kwargs):
            if op in self._refused and not (
                op in (operators.eq, operators.ne) and other == (None,)
            ):
                raise TypeError(
                    f"{self.expr} is encrypted: SQL cannot compare it (use a lookup hash)"
                )
            return super().operate(op, *other, **kwargs)

    comparator_factory = NotComparable

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return encrypt(str(value))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            return decrypt(value)
        except InvalidToken:
            # A key that is no longer configured: fail loudly, never show ciphertext.
            raise RuntimeError("Encrypted field cannot be read with the configured keys") from None


def token_digest(token: str) -> str:
    """What is stored of a random secret the server made (a link, API or session token, a
    recovery code): its SHA-256, so that the database alone holds nothing that works."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def email_lookup(email: str) -> str:
    """The blind index of a staff e-mail address, which is itself stored encrypted: a keyed
    HMAC-SHA256 of its normalised form (trimmed, lower case), so that login and the one
    account per address rule work in SQL while a copy of the database alone tells no
    address. The key is derived from RECEIPT_PEPPER (a secret that is never rotated, unlike
    the encryption keys), kept apart from the receipt codes' by its own label."""
    pepper = current_app.config["RECEIPT_PEPPER"].encode("utf-8")
    key = hmac.new(pepper, b"stagepact e-mail lookup", hashlib.sha256).digest()
    return hmac.new(key, email.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()


def new_receipt_code() -> str:
    """Sixteen digits from the operating system's secure random source."""
    return f"{secrets.randbelow(10**RECEIPT_CODE_DIGITS):0{RECEIPT_CODE_DIGITS}d}"


def normalise_receipt_code(typed: str) -> str | None:
    """The digits of what the student typed, or None if it cannot be a code."""
    digits = "".join(ch for ch in typed if ch in "0123456789")
    # Any other character, other scripts' digits too, means it is not a code.
    other = "".join(ch for ch in typed if ch not in "0123456789 -.\t")
    if other or len(digits) != RECEIPT_CODE_DIGITS:
        return None
    return digits


def format_receipt_code(code: str) -> str:
    """Groups of four, the way the student is asked to write it down."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def hash_receipt_code(code: str) -> str:
    """scrypt keyed with the configured pepper: slow, deterministic, unsearchable.

    Deterministic so that a case can be found by the hash alone; keyed so that
    a copy of the database without the configuration cannot be brute-forced.
    """
    pepper = current_app.config["RECEIPT_PEPPER"].encode("utf-8")
    salt = hmac.new(pepper, b"stagepact receipt code", hashlib.sha256).digest()
    digest = hashlib.scrypt(
        code.encode("ascii"),
        salt=salt,
        n=current_app.config["RECEIPT_SCRYPT_N"],
        r=8,
        p=1,
        dklen=32,
    )
    return digest.hex()


def _password_hasher() -> PasswordHasher:
    return PasswordHasher(
        time_cost=current_app.config["PASSWORD_TIME_COST"],
        memory_cost=current_app.config["PASSWORD_MEMORY_COST"],
        parallelism=current_app.config["PASSWORD_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    return _password_hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Spend the same time as a real check, so that timing tells nothing.
        _password_hasher().hash(password)
        return False
    try:
        return _password_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
