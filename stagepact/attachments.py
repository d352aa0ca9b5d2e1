"""Evidence files: checked by their content, cleaned, stored encrypted, handed out as downloads.

A file is accepted for what its bytes are, never for its name: PDF, PNG, JPEG,
HEIC (converted to JPEG), Word (docx), plain text and saved mail (eml).
Images are decoded and written again without their metadata (EXIF location,
camera, XMP, comments). The stored file is the Fernet encryption of the cleaned
bytes, in the database (`AttachmentContent`), so that any app node serves any file
and one backup holds everything; its original name is an encrypted column. An upload
first waits as pending, found by a random token that the form carries, so
that a form shown again with an error keeps its files; sending the form links
them to the case.

Work is bounded before it is done (issue 13). A form's new files first pass the
cheap checks (size, kind, an image's size in pixels from its header, the case's
room counting pending uploads too, the rate limits) and wait, encrypted, as
pending and not yet cleaned. Only when the rest of the form is valid are they
cleaned: images decoded and written again within a pixel and a time budget
far below the worker timeout, PDFs and Word files refused when they carry
active content, remote links or an archive that inflates too far. A file is
stored in the transaction that stores its row, so a worker killed half-way
leaves nothing behind.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import math
import re
import secrets
import time
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from flask import Response, abort, current_app, g, has_request_context
from flask_babel import lazy_gettext as _l
from limits import parse_many
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.orm import Session

from . import audit
from .crypto import decrypt_bytes, encrypt_bytes, reencrypt
from .extensions import client_address, db, limiter, limits_off
from .models import (
    Attachment,
    AttachmentContent,
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
# A decoded image may not be larger than this many pixels (a decompression bomb, and
# the cost of writing it again): a 24-megapixel camera fits.
MAX_PIXELS = 25_000_000
NAME_MAX = 200
# Cleaning one request's images may decode at most this many pixels and take at most
# this long: a few seconds, far below gunicorn's 30 s worker timeout.
PIXELS_PER_REQUEST = 50_000_000
CLEANING_SECONDS = 5.0
# A Word file may unpack to at most this many bytes, and no entry to more than this
# many times its packed size (a zip bomb); more entries than this is no letter either.
DOCX_MAX_UNPACKED = 50 * 1024 * 1024
DOCX_MAX_RATIO = 100
DOCX_MAX_ENTRIES = 1000
# Names in a PDF that run something when the file is opened or a field is used.
PDF_ACTIVE = frozenset(
    {
        "/JS",
        "/JavaScript",
        "/OpenAction",
        "/AA",
        "/Launch",
        "/EmbeddedFile",
        "/EmbeddedFiles",
        "/RichMedia",
        "/XFA",
        "/SubmitForm",
        "/ImportData",
        "/GoToR",
        "/GoToE",
    }
)
# Markup that makes a browser take a file for a web page (a PDF/HTML polyglot). Only
# tags of four letters or more: shorter ones (`<a `, `<img`) turn up by chance in the
# compressed streams of an ordinary 10 MB PDF.
HTML_MARKERS = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|script|iframe|object|embed|meta)[\s>/]",
    re.IGNORECASE,
)

# Limits on posting forms with files (issue 13): per case, per address, and the
# megabytes an address may post. Checked by `check_upload_limits`, before any file
# is read, so that a refusal keeps the form as typed.
POSTS_PER_CASE = "10 per 10 minutes; 60 per day"
POSTS_PER_ADDRESS = "60 per 10 minutes; 300 per day"
MEGABYTES_PER_ADDRESS = "300 per hour"

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


class CleaningBudget:
    """What cleaning may still spend in this request: decoded pixels and seconds."""

    def __init__(self, pixels: int | None = None, seconds: float | None = None):
        self.pixels = PIXELS_PER_REQUEST if pixels is None else pixels
        self.deadline = time.monotonic() + (CLEANING_SECONDS if seconds is None else seconds)

    def spend(self, pixels: int) -> None:
        if pixels > self.pixels or time.monotonic() > self.deadline:
            raise RejectedFileError(
                _l(
                    "Deze foto's samen zijn te groot om in één keer te verwerken. "
                    "Stuur deze foto in een volgend bericht."
                )
            )
        self.pixels -= pixels


def _image_pixels(data: bytes, kind: str) -> int:
    """The image's size in pixels, read from its header alone (nothing is decoded)."""
    if kind == "heic":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    try:
        with Image.open(io.BytesIO(data)) as image:
            pixels = image.width * image.height
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise RejectedFileError(_l("Deze afbeelding kunnen we niet openen.")) from None
    if pixels > MAX_PIXELS:
        raise RejectedFileError(_l("Deze afbeelding is te groot."))
    return pixels


def _clean_image(data: bytes, kind: str, budget: CleaningBudget) -> tuple[str, bytes]:
    """Decode and write the image again: pixels only, turned the way the camera meant."""
    budget.spend(_image_pixels(data, kind))
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            out = io.BytesIO()
            if kind == "png":
                pixels = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
                pixels.info = {}  # no text chunks, no EXIF, no ICC profile
                # Light compression: writing a large PNG at the default level costs seconds.
                pixels.save(out, format="PNG", compress_level=1)
                return "png", out.getvalue()
            pixels = upright.convert("RGB")
            pixels.info = {}  # Pillow would write a JPEG comment back from here
            pixels.save(out, format="JPEG", quality=90)
            return "jpeg", out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise RejectedFileError(_l("Deze afbeelding kunnen we niet openen.")) from None


def _check_pdf(data: bytes) -> None:
    """Refuse a PDF that runs something when opened, or that a browser would take for HTML."""
    import pikepdf

    pdf_active = _l(
        "Deze pdf bevat scripts, acties of ingesloten bestanden. "
        "Sla hem opnieuw op als gewone pdf (bijvoorbeeld met Afdrukken naar pdf) "
        "en voeg hem dan toe."
    )
    if HTML_MARKERS.search(data):
        raise RejectedFileError(
            _l(
                "Deze pdf bevat ook code van een webpagina. "
                "Sla hem opnieuw op als gewone pdf en voeg hem dan toe."
            )
        )
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            if "/AcroForm" in pdf.Root and "/XFA" in pdf.Root.AcroForm:
                raise RejectedFileError(pdf_active)
            for obj in pdf.objects:
                if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                    keys = set(obj.keys())
                    if keys & PDF_ACTIVE or obj.get("/S") in PDF_ACTIVE:
                        raise RejectedFileError(pdf_active)
    except pikepdf.PdfError:
        raise RejectedFileError(_l("Deze pdf kunnen we niet openen.")) from None
    # Names can hide in compressed object streams that pikepdf decodes, or be written
    # with #-escapes; the raw bytes catch a name pikepdf would repair away.
    if re.search(rb"/(?:JavaScript|OpenAction|Launch|RichMedia|EmbeddedFile)\b", data):
        raise RejectedFileError(pdf_active)


def _check_docx(data: bytes) -> None:
    """Refuse a Word file that fetches something from outside, or that unpacks too far."""
    too_big = _l(
        "Dit Word-bestand wordt uitgepakt veel te groot. "
        "Sla het opnieuw op, of maak er een pdf van."
    )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            if len(entries) > DOCX_MAX_ENTRIES:
                raise RejectedFileError(too_big)
            # What the archive says it holds, then what it really holds, read with a cap.
            if sum(e.file_size for e in entries) > DOCX_MAX_UNPACKED:
                raise RejectedFileError(too_big)
            unpacked = 0
            for entry in entries:
                entry_cap = min(
                    DOCX_MAX_UNPACKED - unpacked, max(entry.compress_size, 1024) * DOCX_MAX_RATIO
                )
                content = bytearray()
                with archive.open(entry) as stream:
                    while chunk := stream.read(64 * 1024):
                        content += chunk
                        if len(content) > entry_cap:
                            raise RejectedFileError(too_big)
                unpacked += len(content)
                if entry.filename.endswith(".rels") and re.search(
                    rb"TargetMode\s*=\s*[\"']External[\"']", content, re.IGNORECASE
                ):
                    raise RejectedFileError(
                        _l(
                            "Dit Word-bestand haalt iets van internet op, zoals een sjabloon "
                            "of een plaatje. Sla het opnieuw op als pdf en voeg dat toe."
                        )
                    )
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
        raise RejectedFileError(_l("Dit Word-bestand kunnen we niet openen.")) from None


def _safe_name(name: str, kind: str) -> str:
    """The name to show and to offer when downloading: no path, the right extension."""
    base = Path(name.replace("\\", "/")).name.strip().replace("\x00", "")
    base = "".join(ch for ch in base if ch.isprintable()) or "bestand"
    stem = base.rsplit(".", 1)[0] if "." in base else base
    extension = KINDS[kind][0]
    return (stem[: NAME_MAX - len(extension)] or "bestand") + extension


def check(data: bytes, name: str) -> Cleaned:
    """The cheap checks of one uploaded file, by its content: what it will be stored as.

    Nothing is decoded here; `clean` does the costly part.
    """
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
        _image_pixels(data, kind)
    stored_kind = "jpeg" if kind == "heic" else kind
    return Cleaned(stored_kind, data, _safe_name(name, stored_kind))


def clean(data: bytes, name: str, budget: CleaningBudget | None = None) -> Cleaned:
    """Check one uploaded file and return what will be stored: cleaned, or refused."""
    checked = check(data, name)
    kind = _sniff(data)
    if kind in ("png", "jpeg", "heic"):
        kind, data = _clean_image(data, kind, budget or CleaningBudget())
    elif kind == "pdf":
        _check_pdf(data)
    elif kind == "docx":
        _check_docx(data)
    return Cleaned(kind, data, checked.name)


# --- Limits on posting files ------------------------------------------------------------


def check_upload_limits(case: Case | None, new_bytes: int) -> None:
    """Count this POST of a form with files against the limits; refuse it when one is spent.

    Per case (when the form belongs to one), per address, and the megabytes an
    address posts. Raises `RejectedFileError` before any file is read.
    """
    if limits_off():
        return
    strategy = limiter.limiter
    # The configured key prefix first, as Flask-Limiter's own keys have it, so that two
    # environments sharing one Redis never spend each other's budgets.
    prefix = (current_app.config["RATELIMIT_KEY_PREFIX"], "uploads")
    address = client_address()
    checks = [(POSTS_PER_ADDRESS, ("posts-address", address), 1)]
    if case is not None and case.id is not None:
        checks.append((POSTS_PER_CASE, ("posts-case", str(case.id)), 1))
    if new_bytes:
        megabytes = max(1, math.ceil(new_bytes / (1024 * 1024)))
        checks.append((MEGABYTES_PER_ADDRESS, ("megabytes-address", address), megabytes))
    for limits, key, cost in checks:
        for item in parse_many(limits):
            if not strategy.test(item, *prefix, *key, cost=cost):
                raise RejectedFileError(
                    _l(
                        "Er is in korte tijd te veel verstuurd. Wacht een paar minuten en "
                        "verstuur het formulier dan opnieuw."
                    )
                )
    for limits, key, cost in checks:
        for item in parse_many(limits):
            strategy.hit(item, *prefix, *key, cost=cost)


# --- Storage -----------------------------------------------------------------------------


CONTENT = AttachmentContent.__table__


def _store(attachment: Attachment, data: bytes) -> None:
    """Keep the file's bytes, encrypted, in the caller's transaction."""
    db.session.execute(
        sa.insert(CONTENT).values(attachment_id=attachment.id, data=encrypt_bytes(data))
    )


def _replace(attachment_id: int, token: bytes) -> None:
    db.session.execute(
        sa.update(CONTENT).where(CONTENT.c.attachment_id == attachment_id).values(data=token)
    )


def _stored(attachment_id: int) -> bytes | None:
    """The file's encrypted bytes as stored (None: it has none)."""
    return db.session.scalar(
        sa.select(CONTENT.c.data).where(CONTENT.c.attachment_id == attachment_id)
    )


def store_pending(
    cleaned: Cleaned,
    uploaded_by: User | None,
    for_case: Case | None = None,
    is_cleaned: bool = True,
) -> Attachment:
    """Keep an upload as pending; it counts against `for_case`'s room from now on."""
    attachment = Attachment(
        token=secrets.token_urlsafe(32),
        original_name=cleaned.name,
        kind=cleaned.kind,
        size=len(cleaned.data),
        uploaded_by_id=uploaded_by.id if uploaded_by else None,
        pending_case_id=for_case.id if for_case is not None else None,
        cleaned=is_cleaned,
    )
    db.session.add(attachment)
    db.session.flush()
    _store(attachment, cleaned.data)
    if has_request_context():
        g.setdefault("uploads_stored", []).append(attachment.token)
    return attachment


def kept_tokens() -> list[str]:
    """The tokens of this request's uploads whose transaction committed: what a form shown
    again without the database (the 503 page) can still carry."""
    return list(g.get("uploads_kept", [])) if has_request_context() else []


def _uploads_committed(session) -> None:
    if has_request_context():
        g.setdefault("uploads_kept", []).extend(g.pop("uploads_stored", []))


def _uploads_rolled_back(session) -> None:
    if has_request_context():
        g.pop("uploads_stored", None)


def init_app(app) -> None:
    if not sa.event.contains(Session, "after_commit", _uploads_committed):
        sa.event.listen(Session, "after_commit", _uploads_committed)
        sa.event.listen(Session, "after_rollback", _uploads_rolled_back)


def clean_stored(attachment: Attachment, budget: CleaningBudget) -> None:
    """Clean a pending upload stored by the cheap checks alone, in place."""
    cleaned = clean(read(attachment), attachment.original_name, budget)
    _replace(attachment.id, encrypt_bytes(cleaned.data))
    attachment.kind = cleaned.kind
    attachment.size = len(cleaned.data)
    attachment.cleaned = True


def read(attachment: Attachment) -> bytes:
    token = _stored(attachment.id)
    if token is None:
        raise FileNotFoundError(f"attachment #{attachment.id} has no stored content")
    return decrypt_bytes(token)


def reencrypt_file(attachment_id: int) -> bool | None:
    """Encrypt a stored file again under the first configured key (key rotation).

    True if it was rewritten, False if it already was under that key, None if it
    has no content; `InvalidToken` if no configured key reads it.
    """
    token = _stored(attachment_id)
    if token is None:
        return None
    rotated = reencrypt(token)
    if rotated is None:
        return False
    _replace(attachment_id, rotated)
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
    """The bytes a case holds: its files and the uploads still pending for it."""
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Attachment.size), 0)).where(
            sa.or_(
                Attachment.case_id == case.id,
                sa.and_(Attachment.case_id.is_(None), Attachment.pending_case_id == case.id),
            )
        )
    )


def check_case_room(case: Case | None, adding: list[Attachment], new_bytes: int = 0) -> None:
    """Refuse when the case's files, its pending uploads and `new_bytes` exceed its room.

    `adding` are uploads the form carries; those already counted as pending for
    the case are not counted twice.
    """
    limit = current_app.config["ATTACHMENT_CASE_MAX_BYTES"]
    if case is not None and case.id is not None:
        used = case_total(case) + sum(a.size for a in adding if a.pending_case_id != case.id)
    else:
        used = sum(a.size for a in adding)
    if used + new_bytes > limit:
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
        attachment.pending_case_id = None
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
    """Remove uploads of forms that were never sent, with their content."""
    hours = hours or current_app.config["PENDING_UPLOAD_HOURS"]
    cutoff = utcnow() - timedelta(hours=hours)
    stale = db.session.scalars(
        sa.select(Attachment.id).where(Attachment.case_id.is_(None), Attachment.created_at < cutoff)
    ).all()
    if stale:
        # Foreign keys do not cascade on SQLite: the content goes explicitly.
        db.session.execute(sa.delete(CONTENT).where(CONTENT.c.attachment_id.in_(stale)))
        db.session.execute(sa.delete(Attachment).where(Attachment.id.in_(stale)))
    return len(stale)


def remove(files: list[Attachment]) -> None:
    """Delete files of a case: their rows and content, and their links to referrals,
    escalations and mail, in the caller's transaction (on PostgreSQL this waits for a
    key rotation that holds them, so that it cannot write a removed file back)."""
    if not files:
        return
    ids = [a.id for a in files]
    # Foreign keys do not cascade on SQLite: the links and content go explicitly.
    for table in (referral_attachment, investigation_attachment, outbox_attachment, CONTENT):
        db.session.execute(sa.delete(table).where(table.c.attachment_id.in_(ids)))
    for attachment in files:
        db.session.delete(attachment)
    db.session.flush()
    # Collections loaded earlier still list the removed files.
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Case | Message | Referral | Investigation | OutboxMail):
            db.session.expire(obj, ["attachments"])


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
