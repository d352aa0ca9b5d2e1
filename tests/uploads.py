"""Files and requests for the upload tests: files made the way a phone, Word or a mail
program makes them, and the student's report and follow-up browser that send them."""

from __future__ import annotations

import io
import zipfile

import pikepdf
import sqlalchemy as sa
from PIL import Image, PngImagePlugin

from stagepact.extensions import db
from stagepact.models import Attachment, AttachmentContent, Case
from tests.factories import PASSWORD
from tests.helpers import FormState

NARRATIVE = "GEHEIM-VERHAAL de praktijkopleider zei dat mijn hoofddoek niet bij de klanten past."


# --- Files, made the way a phone, Word or a mail program makes them ---------------------------


def make_pdf(text: str = "Verklaring van de stagebegeleider") -> bytes:
    """A one-page PDF, the same bytes on every call."""
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Title"] = text
    buffer = io.BytesIO()
    pdf.save(buffer, deterministic_id=True)
    return buffer.getvalue()


def halves(size=(40, 20)) -> Image.Image:
    """An image whose left half is red and right half blue, to see which way it is turned."""
    image = Image.new("RGB", size, (220, 20, 20))
    image.paste((20, 20, 220), (size[0] // 2, 0, size[0], size[1]))
    return image


def encode(image: Image.Image, fmt: str, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def make_png(**save) -> bytes:
    return encode(halves(), "PNG", **save)


def make_jpeg(**save) -> bytes:
    return encode(halves(), "JPEG", quality=95, **save)


def make_heic(**save) -> bytes:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    return encode(halves(), "HEIF", **save)


def make_docx() -> bytes:
    """The same bytes on every call: entries carry a fixed timestamp, not the clock's."""

    def entry(name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=(2026, 1, 5, 9, 30, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        return info

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            entry("[Content_Types].xml"),
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        archive.writestr(
            entry("word/document.xml"),
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            "<w:body><w:p><w:r><w:t>Verslag van het gesprek</w:t></w:r></w:p></w:body></w:document>",
        )
    return buffer.getvalue()


def make_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("setup.exe", b"MZ" + b"\x00" * 64)
    return buffer.getvalue()


def location_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "GeheimCam"  # Make
    exif[0x0110] = "Model Q7"  # Model
    exif[0x0131] = "GeheimSoftware 1.0"  # Software
    if orientation is not None:
        exif[0x0112] = orientation
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 30.0), 3: "E", 4: (4.0, 53.0, 0.0)}  # GPS IFD
    return exif


XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    'xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="52,22.5N" '
    'exif:GPSLongitude="4,53.0E"/></rdf:RDF></x:xmpmeta>'
)
# Bytes that must not survive the cleaning of a photo.
METADATA_MARKERS = (b"GeheimCam", b"Model Q7", b"GeheimSoftware", b"GPSLatitude", b"52.37")


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Location", "52.37, 4.89")
    info.add_text("Author", "GeheimCam")
    info.add_itxt("XML:com.adobe.xmp", XMP)
    return make_png(pnginfo=info, exif=location_exif())


# --- Browsers and requests ---------------------------------------------------------------------


def staff_browser(app, user=None):
    """A browser of its own, logged in as `user` if given."""
    browser = app.test_client()
    if user is not None:
        db.session.commit()
        login = browser.post("/inloggen", data={"email": user.email, "password": PASSWORD})
        assert login.status_code == 302
    return browser


def student_browser(app, code: str):
    """The student's browser, with the case opened by its receipt code."""
    db.session.commit()
    browser = app.test_client()
    assert browser.post("/volgen", data={"code": code}).status_code == 302
    return browser


def as_uploads(files) -> list:
    return [(io.BytesIO(content), name) for name, content in files]


def post_report(client, institution, files=(), **fields):
    """Post the student's report form; a field given as None is left out."""
    data = {"narrative": NARRATIVE, **fields}
    data = {name: value for name, value in data.items() if value is not None}
    if files:
        data["attachments"] = as_uploads(files)
    return client.post(f"/meldpunt/{institution.slug}/melden", data=data)


def upload_tokens(page: str) -> list[str]:
    """The uploads a re-shown form carries (hidden inputs)."""
    return FormState(page).values.get("attachment_token", [])


def case_files(case: Case) -> list[Attachment]:
    return db.session.scalars(
        sa.select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id)
    ).all()


def pending_files() -> list[Attachment]:
    return db.session.scalars(
        sa.select(Attachment).where(Attachment.case_id.is_(None)).order_by(Attachment.id)
    ).all()


def stored_bytes(attachment_id: int) -> bytes | None:
    """A file's content as the database holds it (encrypted), or None when it has none."""
    return db.session.scalar(
        sa.select(AttachmentContent.data).where(AttachmentContent.attachment_id == attachment_id)
    )
