"""Evidence files: checked by their content, cleaned, stored encrypted, handed out as downloads.

A file is accepted for what its bytes are, never for its name: PDF, PNG, JPEG,
HEIC (converted to JPEG), Word (docx), plain text and saved mail (eml).
Images are decoded and written again without their metadata (EXIF location,
camera, XMP, comments). The stored file is the Fernet encryption of the cleaned
bytes under a random name; its original name is an encrypted column. An upload
first waits as pending, found by a random token that the form carries, so
that a form shown again with an error keeps its files; sending the form links
them to the case.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import os
import secrets
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from flask import Response, abort, current_app
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError

from . import audit
from .crypto import decrypt_bytes, encrypt_bytes, reencrypt
from .extensions import db
from .models import (
    Attachment,
    Case,
    Investigation,
    Message,
    OutboxMail,
    Referral,
    User,
    investigation_attachment,
    outbox_attachment,
    referral_attachment,
    utcnow,
)

# What each kind is saved as: extension and the type a mail attachment carries.
KINDS = {
    "pdf": (".pdf", "application/pdf"),
    "png": (".png", "image/png"),
    "jpeg": (".jpg", "image/jpeg"),
    "docx": (
        ".docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    "txt": (".txt", "text/plain"),
    "eml": (".eml", "message/rfc822"),
}
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim", b"heis"}
# A decoded image may not be larger than this many pixels (a decompression bomb).
MAX_PIXELS = 50_000_000
NAME_MAX = 200

ACCEPTED_TEXT = _l("pdf, foto (jpg, png, heic), Word (docx), tekst (txt) of e-mail (eml)")


class RejectedFileError(Exception):
    """A file that cannot be accepted; `message` is fit to show beside the field."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class Cleaned:
    kind: str
    data: bytes
    name: str


def _limit_text(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB"


def _sniff(data: bytes) -> str | None:
    """The kind the content is, or None."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        return "heic"
    if data.startswith(b"PK\x03\x04"):
        return "docx" if _is_docx(data) else None
    text = _as_text(data)
    if text is None or _looks_like_html(text):
        return None
    return "eml" if _looks_like_mail(text) else "txt"


def _looks_like_html(text: str) -> bool:
    """A web page is not plain text, whatever its name says."""
    start = text.lstrip()[:1024].lower()
    return start.startswith(("<!doctype html", "<html", "<?xml", "<svg")) or "<script" in start


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError):
        return False
    return "[Content_Types].xml" in names and "word/document.xml" in names


def _as_text(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    # Text is mostly printable: a binary file that happens to decode is not.
    controls = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\t\r\n\f")
    return text if controls == 0 else None


def _looks_like_mail(text: str) -> bool:
    head = text.lstrip()[:8192]
    message = email.parser.Parser(policy=email.policy.default).parsestr(head, headersonly=True)
    return bool(message["From"]) and bool(message["Date"] or message["Subject"])


def _clean_image(data: bytes, kind: str) -> tuple[str, bytes]:
    """Decode and write the image again: pixels only, turned the way the camera meant."""
    if kind == "heic":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise RejectedFileError(_l("Deze afbeelding is te groot."))
            image.load()
            upright = ImageOps.exif_transpose(image)
            out = io.BytesIO()
            if kind == "png":
                pixels = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
                pixels.info = {}  # no text chunks, no EXIF, no ICC profile
                pixels.save(out, format="PNG", optimize=False)
                return "png", out.getvalue()
            pixels = upright.convert("RGB")
            pixels.info = {}  # Pillow would write a JPEG comment back from here
            pixels.save(out, format="JPEG", quality=90)
            return "jpeg", out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise RejectedFileError(_l("Deze afbeelding kunnen we niet openen.")) from None


def _safe_name(name: str, kind: str) -> str:
    """The name to show and to offer when downloading: no path, the right extension."""
    base = Path(name.replace("\\", "/")).name.strip().replace("\x00", "")
    base = "".join(ch for ch in base if ch.isprintable()) or "bestand"
    stem = base.rsplit(".", 1)[0] if "." in base else base
    extension = KINDS[kind][0]
    return (stem[: NAME_MAX - len(extension)] or "bestand") + extension


def clean(data: bytes, name: str) -> Cleaned:
    """Check one uploaded file by its content and return what will be stored."""
    limit = current_app.config["ATTACHMENT_MAX_BYTES"]
    if not data:
        raise RejectedFileError(_l("Dit bestand is leeg."))
    if len(data) > limit:
        raise RejectedFileError(
            _l("Dit bestand is groter dan %(limit)s.", limit=_limit_text(limit))
        )
    kind = _sniff(data)
    if kind is None:
        raise RejectedFileError(
            _l("Dit soort bestand kan niet. Dat kan wel: %(kinds)s.", kinds=ACCEPTED_TEXT)
        )
    if kind in ("png", "jpeg", "heic"):
        kind, data = _clean_image(data, kind)
    return Cleaned(kind, data, _safe_name(name, kind))


# --- Storage -----------------------------------------------------------------------------


def _directory() -> Path:
    path = Path(current_app.config["ATTACHMENT_DIR"])
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _path(attachment: Attachment) -> Path:
    return _directory() / f"{attachment.storage_key}.bin"


def store_pending(cleaned: Cleaned, uploaded_by: User | None) -> Attachment:
    attachment = Attachment(
        token=secrets.token_urlsafe(32),
        storage_key=secrets.token_hex(16),
        original_name=cleaned.name,
        kind=cleaned.kind,
        size=len(cleaned.data),
        uploaded_by_id=uploaded_by.id if uploaded_by else None,
    )
    _path(attachment).write_bytes(encrypt_bytes(cleaned.data))
    db.session.add(attachment)
    db.session.flush()
    return attachment


def read(attachment: Attachment) -> bytes:
    return decrypt_bytes(_path(attachment).read_bytes())


def reencrypt_file(attachment) -> bool | None:
    """Encrypt a stored file again under the first configured key (key rotation).

    True if it was rewritten, False if it already was under that key, None if
    the file is missing; `InvalidToken` if no configured key reads it. The new
    file is written beside the old one and then replaces it in one step, so
    that a crash never leaves half a file. `attachment` needs only `storage_key`.
    """
    path = _path(attachment)
    try:
        token = path.read_bytes()
    except FileNotFoundError:
        return None
    rotated = reencrypt(token)
    if rotated is None:
        return False
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".rotating-")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(rotated)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def pending(tokens: list[str]) -> list[Attachment]:
    """The uploads a form still carries, in their order; unknown or used tokens are dropped."""
    wanted = [t for t in dict.fromkeys(tokens) if isinstance(t, str) and 20 <= len(t) <= 64]
    if not wanted:
        return []
    found = {
        a.token: a
        for a in db.session.scalars(
            sa.select(Attachment).where(Attachment.token.in_(wanted), Attachment.case_id.is_(None))
        )
    }
    return [found[t] for t in wanted if t in found]


def case_total(case: Case) -> int:
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Attachment.size), 0)).where(
            Attachment.case_id == case.id
        )
    )


def check_case_room(case: Case | None, adding: list[Attachment]) -> None:
    limit = current_app.config["ATTACHMENT_CASE_MAX_BYTES"]
    used = case_total(case) if case is not None and case.id is not None else 0
    if used + sum(a.size for a in adding) > limit:
        raise RejectedFileError(
            _l(
                "Samen worden de bestanden bij deze melding groter dan %(limit)s.",
                limit=_limit_text(limit),
            )
        )


def attach(case: Case, attachments: list[Attachment], message: Message | None = None) -> None:
    """Link pending uploads to a case (and the message they came with)."""
    for attachment in attachments:
        attachment.case_id = case.id
        attachment.message_id = message.id if message is not None else None
        # The token has done its work; a new one means the old one opens nothing.
        attachment.token = secrets.token_urlsafe(32)
    if attachments:
        db.session.flush()
        audit.record(
            "case.attachments_added",
            case=case,
            attachment_ids=[a.id for a in attachments],
            message_id=message.id if message is not None else None,
        )


def purge_pending(hours: int | None = None) -> int:
    """Remove uploads of forms that were never sent.

    Files go before their rows: should the transaction then fail, what remains
    is a pending row without a file, which the next run removes as well.
    """
    hours = hours or current_app.config["PENDING_UPLOAD_HOURS"]
    cutoff = utcnow() - timedelta(hours=hours)
    stale = db.session.scalars(
        sa.select(Attachment).where(Attachment.case_id.is_(None), Attachment.created_at < cutoff)
    ).all()
    for attachment in stale:
        _path(attachment).unlink(missing_ok=True)
        db.session.delete(attachment)
    return len(stale)


def remove(files: list[Attachment]) -> None:
    """Delete files of a case: their rows, their links to referrals, escalations and mail, and
    the encrypted files on disk.

    The rows go first, in the caller's transaction (on PostgreSQL this waits for a
    key rotation that holds them, so that it cannot write a removed file back);
    then the files. Should the transaction then fail, rows without files remain,
    and the erasure that removed them can simply run again.
    """
    if not files:
        return
    ids = [a.id for a in files]
    paths = [_path(a) for a in files]
    # Foreign keys do not cascade on SQLite: the links go explicitly.
    for table in (referral_attachment, investigation_attachment, outbox_attachment):
        db.session.execute(sa.delete(table).where(table.c.attachment_id.in_(ids)))
    for attachment in files:
        db.session.delete(attachment)
    db.session.flush()
    # Collections loaded earlier still list the removed files.
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Case | Message | Referral | Investigation | OutboxMail):
            db.session.expire(obj, ["attachments"])
    for path in paths:
        path.unlink(missing_ok=True)


def content_type(attachment: Attachment) -> str:
    return KINDS[attachment.kind][1]


def mail_content_type(attachment: Attachment) -> str:
    """A saved mail goes as a plain file: message/rfc822 parts may not be base64-encoded."""
    return "application/octet-stream" if attachment.kind == "eml" else content_type(attachment)


# --- Downloads --------------------------------------------------------------------------


def of_case_or_404(case: Case, attachment_id: int) -> Attachment:
    attachment = db.session.scalar(
        sa.select(Attachment).where(Attachment.id == attachment_id, Attachment.case_id == case.id)
    )
    if attachment is None:
        abort(404)
    return attachment


def download_response(attachment: Attachment) -> Response:
    """The file as a download: never shown in the browser, never guessed at, never cached."""
    response = Response(read(attachment), mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = content_disposition(attachment.original_name)
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; frame-ancestors 'none'; sandbox"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def content_disposition(name: str) -> str:
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
