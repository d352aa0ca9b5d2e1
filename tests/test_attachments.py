"""Evidence files (issue 5) and the files a handler chooses for the ADV and SBB (issue 3).

Students (with the report and later messages) and handlers attach files: pdf, png,
jpeg, heic, docx, txt and eml, recognised by their content and never by their
name, at most 10 MB each and 50 MB per case. Photos lose their metadata, files
are stored encrypted under names the server chooses, and a download is only for
those allowed to see the file, as an attachment that is never shown in the
browser. A bad file gets a message beside the field and the rest of the form
stays. Mostly through the HTTP routes, as the browsers of a student, a handler
and an SBB reviewer use them; expectations are written out by hand.
"""

from __future__ import annotations

import email
import email.policy
import io
import json
import re
import struct
import zlib
from datetime import timedelta
from email import policy
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from stagepact import attachments, workflow
from stagepact.extensions import db
from stagepact.models import (
    Attachment,
    Case,
    Investigation,
    Message,
    OutboxMail,
    Referral,
    utcnow,
)
from stagepact.outbox import send_due
from stagepact.vocab import Role, Status
from tests.factories import (
    make_attachment,
    make_case,
    make_company,
    make_institution,
    make_user,
)
from tests.helpers import FormState, audit_events, count, field_error, page_text, reloaded
from tests.uploads import (
    METADATA_MARKERS,
    NARRATIVE,
    XMP,
    as_uploads,
    case_files,
    location_exif,
    make_docx,
    make_heic,
    make_jpeg,
    make_pdf,
    make_png,
    make_zip,
    pending_files,
    png_with_text,
    post_report,
    staff_browser,
    stored_bytes,
    student_browser,
    upload_tokens,
)

TEXT = "Het bedrijf mailde: 'we zoeken iemand die beter in het team past'.\nGroet, Sanne Öztürk\n"
EML = (
    "From: Personeelszaken <hr@bakkerij.example>\r\n"
    "To: sanne@voorbeeld.nl\r\n"
    "Date: Tue, 03 Mar 2026 10:15:00 +0100\r\n"
    "Subject: Uw sollicitatie\r\n"
    "\r\n"
    "Beste Sanne, we kiezen voor iemand die beter bij ons past.\r\n"
)
WRONG_KIND = "Dit soort bestand kan niet."
CANNOT_OPEN = "Deze afbeelding kunnen we niet openen."


# --- Browsers and requests ---------------------------------------------------------------------


@pytest.fixture
def institution():
    institution = make_institution(name="Horizon Testcollege")
    make_user(Role.HANDLER, institution, name="Hanna Behandelaar")
    db.session.commit()
    return institution


def _is_receipt(response) -> bool:
    return response.status_code == 200 and 'class="receipt-code"' in page_text(response)


def _receipt_code(response) -> str:
    match = re.search(r'class="receipt-code"[^>]*>([\d ]+)<', page_text(response))
    assert match, "the receipt page shows the code"
    return match.group(1)


def _only_case() -> Case:
    [case] = db.session.scalars(sa.select(Case)).all()
    return case


def _stored_image(attachment: Attachment) -> Image.Image:
    image = Image.open(io.BytesIO(attachments.read(attachment)))
    image.load()
    return image


def _disposition_name(response) -> str:
    match = re.search(r'filename="([^"]*)"', response.headers["Content-Disposition"])
    assert match, response.headers["Content-Disposition"]
    return match.group(1)


def _download_links(page: str, prefix: str) -> set[int]:
    return {int(i) for i in re.findall(rf'href="{re.escape(prefix)}(\d+)"', page)}


# --- Each kind is known by its content -------------------------------------------------------

ACCEPTED = [
    pytest.param(make_pdf(), "verklaring.pdf", "pdf", "verklaring.pdf", id="pdf"),
    pytest.param(make_png(), "foto.pdf", "png", "foto.png", id="png-named-pdf"),
    pytest.param(make_jpeg(), "scan.png", "jpeg", "scan.jpg", id="jpeg-named-png"),
    pytest.param(make_heic(), "IMG_0042.HEIC", "jpeg", "IMG_0042.jpg", id="heic-stored-as-jpeg"),
    pytest.param(make_docx(), "brief", "docx", "brief.docx", id="docx-without-extension"),
    pytest.param(TEXT.encode(), "notities.pdf", "txt", "notities.txt", id="txt-named-pdf"),
    pytest.param(EML.encode(), "mail.txt", "eml", "mail.eml", id="eml-named-txt"),
]
IMAGE_FORMATS = {"png": "PNG", "jpeg": "JPEG"}


@pytest.mark.parametrize("content, uploaded_as, kind, name", ACCEPTED)
def test_each_accepted_kind_is_known_by_its_content_and_named_after_it(
    client, institution, content, uploaded_as, kind, name
):
    response = post_report(client, institution, [(uploaded_as, content)])

    assert _is_receipt(response)
    [stored] = case_files(_only_case())
    assert (stored.kind, stored.original_name) == (kind, name)
    download = client.get(f"/volgen/melding/bestanden/{stored.id}")  # the student, just reported
    assert download.status_code == 200
    assert _disposition_name(download) == name
    assert download.data == attachments.read(stored)
    assert stored.size == len(download.data)
    if kind in IMAGE_FORMATS:
        # A photo is decoded and written again: the same picture, in the kind it is stored as.
        image = Image.open(io.BytesIO(download.data))
        assert image.format == IMAGE_FORMATS[kind]
        assert image.size == (40, 20)
    else:
        assert download.data == content


def test_a_path_in_the_uploaded_name_is_dropped(client, institution):
    response = post_report(
        client, institution, [("../../instance/attachments/bewijs.pdf", make_pdf())]
    )

    assert _is_receipt(response)
    [stored] = case_files(_only_case())
    assert stored.original_name == "bewijs.pdf"
    # A Windows path (old browsers sent one) loses its folders too.
    assert attachments.clean(make_pdf(), "C:\\Users\\sanne\\bewijs.pdf").name == "bewijs.pdf"


REFUSED = [
    pytest.param(
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 100 + b"PE\x00\x00",
        "verklaring.pdf",
        WRONG_KIND,
        id="windows-exe-named-pdf",
    ),
    pytest.param(
        b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 120, "foto.jpg", WRONG_KIND, id="elf-named-jpg"
    ),
    pytest.param(make_zip(), "brief.docx", WRONG_KIND, id="zip-named-docx"),
    pytest.param(bytes(range(256)) * 8, "foto.jpg", WRONG_KIND, id="garbage-named-jpg"),
    pytest.param(
        "verslag".encode("utf-16"), "verslag.txt", WRONG_KIND, id="utf16-text-is-not-utf8"
    ),
    pytest.param(
        b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, "foto.jpg", CANNOT_OPEN, id="broken-jpeg"
    ),
    pytest.param(make_png()[:60], "foto.png", CANNOT_OPEN, id="truncated-png"),
    pytest.param(
        b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>",
        "verklaring.pdf",
        WRONG_KIND,
        id="html-named-pdf",
    ),
]


@pytest.mark.parametrize("content, uploaded_as, message", REFUSED)
def test_a_file_that_is_not_an_accepted_kind_is_refused_beside_the_field(
    client, institution, content, uploaded_as, message
):
    response = post_report(
        client, institution, [(uploaded_as, content)], programme="Verzorgende IG"
    )

    assert response.status_code == 422
    page = page_text(response)
    error = field_error(page, "attachments")
    assert error is not None, "no message beside the file field"
    assert error.startswith(f"{uploaded_as}: ") and message in error
    assert 'href="#attachments"' in page  # the error summary links to the field
    state = FormState(page).values
    assert state["narrative"] == [NARRATIVE] and state["programme"] == ["Verzorgende IG"]
    assert upload_tokens(page) == []
    assert count(Attachment) == 0 and count(Case) == 0


def test_markup_in_a_refused_files_name_is_shown_escaped(client, institution):
    name = "<img src=x onerror=alert(1)>.pdf"

    response = post_report(client, institution, [(name, b"MZ" + b"\x00" * 64)])

    assert response.status_code == 422
    page = page_text(response)
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.pdf" in page


# --- Photos lose their metadata --------------------------------------------------------------

WITH_METADATA = [
    pytest.param(lambda: make_jpeg(exif=location_exif(), xmp=XMP.encode()), "jpeg", id="jpeg"),
    pytest.param(png_with_text, "png", id="png"),
    pytest.param(lambda: make_heic(exif=location_exif(), xmp=XMP.encode()), "jpeg", id="heic"),
]


@pytest.mark.parametrize("make, kind", WITH_METADATA)
def test_a_photos_location_and_other_metadata_are_removed(client, institution, make, kind):
    content = make()
    if kind == "jpeg":  # as made: the location is there to be removed
        with Image.open(io.BytesIO(content)) as original:
            assert original.getexif().get_ifd(0x8825)
    assert any(marker in content for marker in METADATA_MARKERS)

    response = post_report(client, institution, [("vakantie.jpg", content)])

    assert _is_receipt(response)
    [stored] = case_files(_only_case())
    assert stored.kind == kind
    data = attachments.read(stored)
    for marker in METADATA_MARKERS:
        assert marker not in data, marker
    image = _stored_image(stored)
    assert dict(image.getexif()) == {}
    assert image.getexif().get_ifd(0x8825) == {}
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "Location", "Author"):
        assert key not in image.info, key
    assert getattr(image, "text", {}) == {}
    assert image.size == (40, 20)


def test_a_jpeg_comment_is_removed(client, institution):
    content = make_jpeg(comment=b"GeheimCam Q7 bij Bakkerij De Korf, Zwolle")

    assert _is_receipt(post_report(client, institution, [("foto.jpg", content)]))

    [stored] = case_files(_only_case())
    assert b"GeheimCam" not in attachments.read(stored)
    assert "comment" not in _stored_image(stored).info


def test_the_exif_orientation_is_applied_to_the_pixels(client, institution):
    # Orientation 6: the camera was held on its side; turn 90 degrees clockwise to view.
    content = make_jpeg(exif=location_exif(orientation=6))

    assert _is_receipt(post_report(client, institution, [("staand.jpg", content)]))

    [stored] = case_files(_only_case())
    image = _stored_image(stored).convert("RGB")
    assert image.size == (20, 40)
    assert 0x0112 not in image.getexif()  # turned once, by us, and not again by the viewer
    red, _green, blue = image.getpixel((10, 5))
    assert red > 150 and blue < 100, "the left (red) half is now on top"
    red, _green, blue = image.getpixel((10, 35))
    assert blue > 150 and red < 100, "the right (blue) half is now at the bottom"


# --- Limits ----------------------------------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused_and_the_form_kept(
    app, client, institution, monkeypatch
):
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_BYTES", 1024 * 1024)
    just_fits = b"a" * (1024 * 1024)
    too_big = b"a" * (1024 * 1024 + 1)

    response = post_report(
        client, institution, [("past-net.txt", just_fits), ("te-groot.txt", too_big)]
    )

    assert response.status_code == 422
    page = page_text(response)
    assert field_error(page, "attachments") == "te-groot.txt: Dit bestand is groter dan 1 MB."
    assert FormState(page).values["narrative"] == [NARRATIVE]
    [kept] = pending_files()
    assert kept.original_name == "past-net.txt" and kept.size == 1024 * 1024
    assert upload_tokens(page) == [kept.token]
    assert count(Case) == 0


def test_the_default_limit_is_ten_megabytes_a_file_and_fifty_a_case(app):
    assert app.config["ATTACHMENT_MAX_BYTES"] == 10 * 1024 * 1024
    assert app.config["ATTACHMENT_CASE_MAX_BYTES"] == 50 * 1024 * 1024
    assert app.config["MAX_CONTENT_LENGTH"] > app.config["ATTACHMENT_CASE_MAX_BYTES"]


def test_a_later_message_that_would_take_the_case_over_its_total_is_refused(
    app, institution, monkeypatch
):
    case, code = make_case(institution)
    make_attachment(case, b"b" * 600_000, "eerste.txt")
    db.session.commit()
    monkeypatch.setitem(app.config, "ATTACHMENT_CASE_MAX_BYTES", 1024 * 1024)
    student = student_browser(app, code)
    body = "Hier is nog een bestand van het bedrijf."

    response = student.post(
        "/volgen/melding/bericht",
        data={"body": body, "attachments": as_uploads([("tweede.txt", b"c" * 500_000)])},
    )

    assert response.status_code == 422
    page = page_text(response)
    assert field_error(page, "attachments") == (
        "tweede.txt: Samen worden de bestanden bij deze melding groter dan 1 MB."
    )
    assert FormState(page).values["body"] == [body]
    assert pending_files() == []  # refused before it was stored
    fresh = reloaded(case)
    assert [m.kind for m in fresh.messages] == []
    assert [a.original_name for a in case_files(fresh)] == ["eerste.txt"]

    # A smaller file fits in what is left.
    response = student.post(
        "/volgen/melding/bericht",
        data={"body": body, "attachments": as_uploads([("klein.txt", b"c" * 400_000)])},
    )
    assert response.status_code == 302
    assert [a.original_name for a in case_files(reloaded(case))] == ["eerste.txt", "klein.txt"]


def test_more_files_than_a_form_takes_are_refused_with_a_message(
    app, client, institution, monkeypatch
):
    assert app.config["ATTACHMENTS_PER_FORM"] == 10
    monkeypatch.setitem(app.config, "ATTACHMENTS_PER_FORM", 2)
    files = [(f"bewijs-{n}.txt", f"Bewijsstuk {n}\n".encode()) for n in range(1, 4)]

    response = post_report(client, institution, files)

    assert response.status_code == 422
    page = page_text(response)
    assert "Je kunt hoogstens 2 bestanden tegelijk toevoegen." in field_error(page, "attachments")
    assert FormState(page).values["narrative"] == [NARRATIVE]
    assert [a.original_name for a in pending_files()] == ["bewijs-1.txt", "bewijs-2.txt"]
    assert count(Case) == 0


def test_kept_files_of_two_forms_together_still_obey_the_per_form_count(
    app, client, institution, monkeypatch
):
    monkeypatch.setitem(app.config, "ATTACHMENTS_PER_FORM", 2)
    tokens = []
    for batch in ("a", "b"):
        files = [(f"{batch}{n}.txt", f"{batch}{n}\n".encode()) for n in (1, 2)]
        page = page_text(post_report(client, institution, files, narrative=""))
        tokens += upload_tokens(page)
    assert len(tokens) == 4

    response = post_report(client, institution, attachment_token=tokens)

    assert response.status_code == 422 or len(case_files(_only_case())) <= 2


def test_an_image_too_large_to_decode_is_refused_before_it_is_decoded(client, institution):
    # Only a header: 8000 x 8000 pixels (64 million) that would take memory to decode.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 8000, 8000, 8, 0, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")

    response = post_report(client, institution, [("bom.png", bomb)])

    assert response.status_code == 422
    assert (
        field_error(page_text(response), "attachments") == "bom.png: Deze afbeelding is te groot."
    )
    assert count(Attachment) == 0


def test_an_empty_file_is_refused(client, institution):
    response = post_report(client, institution, [("leeg.pdf", b"")])

    assert response.status_code == 422
    assert field_error(page_text(response), "attachments") == "leeg.pdf: Dit bestand is leeg."
    assert count(Attachment) == 0 and count(Case) == 0


def test_a_request_over_the_request_limit_is_refused_before_it_is_read(
    app, client, institution, monkeypatch
):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 64 * 1024)

    response = post_report(client, institution, [("groot.txt", b"a" * 100_000)])

    assert response.status_code == 413
    assert count(Attachment) == 0 and count(Case) == 0


def test_a_request_over_the_request_limit_gets_the_sites_own_page(
    app, client, institution, monkeypatch
):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 64 * 1024)

    response = post_report(client, institution, [("groot.txt", b"a" * 100_000)])

    assert response.status_code == 413
    assert 'lang="nl"' in page_text(response)


# --- Encrypted at rest, in the database ------------------------------------------------------


def test_a_file_is_stored_encrypted_in_the_database_and_nowhere_else(app, client, institution):
    secret = "GEHEIM-BEWIJS van Bakkerij De Korf: 'geen hoofddoeken aan de balie'.\n"
    name = "Mail-van-Bakkerij-De-Korf.txt"

    assert _is_receipt(post_report(client, institution, [(name, secret.encode())]))

    [stored] = case_files(_only_case())
    held = stored_bytes(stored.id)
    assert held and secret.encode() not in held and b"GEHEIM" not in held
    folder = Path(app.config["ATTACHMENT_DIR"])
    assert not folder.exists() or list(folder.iterdir()) == []  # nothing on this node's disk
    assert attachments.read(stored) == secret.encode()
    # The original name is an encrypted column: the database holds no plaintext of it.
    raw = db.session.execute(sa.text("SELECT original_name, kind FROM attachment")).one()
    assert "Korf" not in raw.original_name and name not in raw.original_name
    assert raw.kind == "txt"
    assert stored.original_name == name


def test_two_uploads_of_the_same_file_get_different_ciphertexts(app, client, institution):
    content = TEXT.encode()

    response = post_report(client, institution, [("a.txt", content), ("a.txt", content)])

    assert _is_receipt(response)
    first, second = case_files(_only_case())
    assert stored_bytes(first.id) != stored_bytes(second.id)


# --- The form keeps its files when it comes back ------------------------------------------------


def test_a_form_with_an_error_keeps_its_file_and_sending_it_again_attaches_it(client, institution):
    response = post_report(
        client,
        institution,
        [("verklaring.pdf", make_pdf())],
        narrative="",
        programme="Verzorgende IG",
    )

    assert response.status_code == 422
    page = page_text(response)
    assert field_error(page, "narrative") is not None
    assert field_error(page, "attachments") is None
    assert FormState(page).values["programme"] == ["Verzorgende IG"]
    [token] = upload_tokens(page)
    [pending] = pending_files()
    assert token == pending.token
    assert "verklaring.pdf" in page  # shown as already added, with a box to remove it
    assert f'name="remove_attachment" id="remove_attachment-1" value="{token}"' in page
    assert count(Case) == 0

    response = post_report(client, institution, attachment_token=token, programme="Verzorgende IG")

    assert _is_receipt(response)
    case = _only_case()
    [attached] = case_files(case)
    assert attached.id == pending.id and attached.message_id is None
    assert attached.token != token  # the token has done its work
    assert attachments.read(attached) == make_pdf()
    [event] = audit_events("case.attachments_added")
    assert json.loads(event.details) == {"attachment_ids": [attached.id], "message_id": None}


def test_kept_files_and_new_ones_go_together(client, institution):
    page = page_text(post_report(client, institution, [("een.txt", b"een\n")], narrative=""))

    response = post_report(
        client, institution, [("twee.pdf", make_pdf())], attachment_token=upload_tokens(page)
    )

    assert _is_receipt(response)
    assert [a.original_name for a in case_files(_only_case())] == ["een.txt", "twee.pdf"]


def test_ticking_remove_drops_a_kept_file(client, institution):
    page = page_text(
        post_report(
            client, institution, [("een.txt", b"een\n"), ("twee.txt", b"twee\n")], narrative=""
        )
    )
    first, second = upload_tokens(page)

    response = post_report(
        client, institution, attachment_token=[first, second], remove_attachment=second
    )

    assert _is_receipt(response)
    assert [a.original_name for a in case_files(_only_case())] == ["een.txt"]


def test_a_bad_file_beside_a_valid_form_comes_back_with_everything_typed(client, institution):
    posted = {"programme": "Verzorgende IG", "incident_period": "begin maart"}

    response = post_report(
        client,
        institution,
        [("goed.pdf", make_pdf()), ("virus.pdf", b"MZ" + b"\x00" * 64)],
        **posted,
    )

    assert response.status_code == 422
    page = page_text(response)
    assert "virus.pdf: Dit soort bestand kan niet." in field_error(page, "attachments")
    state = FormState(page).values
    assert state["narrative"] == [NARRATIVE]
    assert state["programme"] == [posted["programme"]]
    assert state["incident_period"] == [posted["incident_period"]]
    [good] = pending_files()
    assert good.original_name == "goed.pdf" and upload_tokens(page) == [good.token]
    assert count(Case) == 0

    # Sent again without the bad file, the good one comes along.
    response = post_report(client, institution, attachment_token=upload_tokens(page), **posted)
    assert _is_receipt(response)
    assert [a.original_name for a in case_files(_only_case())] == ["goed.pdf"]


def test_a_token_of_an_upload_already_attached_to_a_case_attaches_nothing(app, client, institution):
    page = page_text(post_report(client, institution, [("bewijs.pdf", make_pdf())], narrative=""))
    [token] = upload_tokens(page)
    assert _is_receipt(post_report(client, institution, attachment_token=token))
    first = _only_case()
    [attached] = case_files(first)

    for browser in (client, app.test_client()):  # the same browser again, and another one
        response = post_report(browser, institution, attachment_token=token)
        assert _is_receipt(response)

    cases = db.session.scalars(sa.select(Case).order_by(Case.id)).all()
    assert len(cases) == 3
    assert [a.id for a in case_files(cases[0])] == [attached.id]
    assert case_files(cases[1]) == [] and case_files(cases[2]) == []
    assert count(Attachment) == 1


def test_a_token_that_is_not_one_is_ignored(client, institution):
    response = post_report(
        client, institution, attachment_token=["x" * 43, "kort", "' OR 1=1 --" + "a" * 30]
    )

    assert _is_receipt(response)
    assert case_files(_only_case()) == []


# --- CSRF: new files need a valid form; kept files stay ----------------------------------------


def _csrf_token(browser, institution) -> str:
    page = page_text(browser.get(f"/meldpunt/{institution.slug}/melden"))
    return FormState(page).values["csrf_token"][0]


@pytest.mark.parametrize("token", [None, "IjEyMzQ1Njc4OTAi.bogus.token"], ids=["missing", "wrong"])
def test_new_files_with_an_invalid_csrf_token_are_not_stored_and_the_form_says_so(
    client, institution, csrf_enabled, token
):
    _csrf_token(client, institution)

    response = post_report(client, institution, [("bewijs.pdf", make_pdf())], csrf_token=token)

    assert response.status_code == 422
    page = page_text(response)
    assert field_error(page, "attachments") == (
        "Je formulier stond te lang open. Voeg je bestanden opnieuw toe."
    )
    assert FormState(page).values["narrative"] == [NARRATIVE]
    assert count(Attachment) == 0 and count(Case) == 0


def test_with_csrf_a_kept_file_survives_an_expired_form_and_is_attached_when_sent(
    client, institution, csrf_enabled
):
    token = _csrf_token(client, institution)
    page = page_text(
        post_report(
            client, institution, [("bewijs.pdf", make_pdf())], narrative="", csrf_token=token
        )
    )
    [kept] = upload_tokens(page)

    expired = post_report(client, institution, attachment_token=kept, csrf_token="verlopen")

    assert expired.status_code == 422
    assert upload_tokens(page_text(expired)) == [kept]
    assert count(Case) == 0

    sent = post_report(client, institution, attachment_token=kept, csrf_token=token)

    assert _is_receipt(sent)
    assert [a.original_name for a in case_files(_only_case())] == ["bewijs.pdf"]


# --- Downloads: as attachments, only for those who may see them ---------------------------------


def _assert_download_headers(response, name: str) -> None:
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f'filename="{name}"' in disposition
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp


@pytest.fixture
def two_cases(institution):
    """Case A and case B of one institution, each with a file; handlers here and elsewhere."""
    handler = make_user(Role.HANDLER, institution)
    stranger = make_user(Role.HANDLER, make_institution())
    case_a, code_a = make_case(institution)
    case_b, code_b = make_case(institution)
    file_a = make_attachment(case_a, TEXT.encode(), "Mail van het bedrijf.txt")
    file_b = make_attachment(case_b, make_pdf(), "andere-melding.pdf")
    db.session.commit()
    return {
        "handler": handler,
        "stranger": stranger,
        "case_a": case_a,
        "code_a": code_a,
        "file_a": file_a,
        "case_b": case_b,
        "code_b": code_b,
        "file_b": file_b,
    }


def test_the_handler_of_the_case_downloads_its_file_as_an_attachment(app, two_cases):
    case, file_a = two_cases["case_a"], two_cases["file_a"]
    handler = staff_browser(app, two_cases["handler"])

    page = page_text(handler.get(f"/behandelen/zaken/{case.id}"))
    assert _download_links(page, f"/behandelen/zaken/{case.id}/bestanden/") == {file_a.id}
    response = handler.get(f"/behandelen/zaken/{case.id}/bestanden/{file_a.id}")

    _assert_download_headers(response, "Mail van het bedrijf.txt")
    assert (
        "filename*=UTF-8''Mail%20van%20het%20bedrijf.txt"
        in (response.headers["Content-Disposition"])
    )
    assert response.data == TEXT.encode()


def test_a_non_ascii_name_is_offered_in_both_forms(app, institution):
    handler = make_user(Role.HANDLER, institution)
    case, _code = make_case(institution)
    stored = make_attachment(case, TEXT.encode(), 'Brief "Öztürk"; ontslag.txt')
    db.session.commit()

    response = staff_browser(app, handler).get(f"/behandelen/zaken/{case.id}/bestanden/{stored.id}")

    _assert_download_headers(response, "Brief __zt_rk__ ontslag.txt")
    assert (
        "filename*=UTF-8''Brief%20%22%C3%96zt%C3%BCrk%22%3B%20ontslag.txt"
        in (response.headers["Content-Disposition"])
    )


def test_no_file_reaches_a_handler_of_the_case_by_another_cases_address(app, two_cases):
    case_a, file_b = two_cases["case_a"], two_cases["file_b"]
    handler = staff_browser(app, two_cases["handler"])

    assert handler.get(f"/behandelen/zaken/{case_a.id}/bestanden/{file_b.id}").status_code == 404


def test_a_handler_of_another_institution_gets_404(app, two_cases):
    case, file_a = two_cases["case_a"], two_cases["file_a"]
    stranger = staff_browser(app, two_cases["stranger"])

    response = stranger.get(f"/behandelen/zaken/{case.id}/bestanden/{file_a.id}")

    assert response.status_code == 404
    assert TEXT.encode() not in response.data


def test_the_student_downloads_files_of_their_own_case_only(app, two_cases):
    file_a, file_b = two_cases["file_a"], two_cases["file_b"]
    student_a = student_browser(app, two_cases["code_a"])

    page = page_text(student_a.get("/volgen/melding"))
    assert _download_links(page, "/volgen/melding/bestanden/") == {file_a.id}
    own = student_a.get(f"/volgen/melding/bestanden/{file_a.id}")
    _assert_download_headers(own, "Mail van het bedrijf.txt")
    assert own.data == TEXT.encode()
    assert student_a.get(f"/volgen/melding/bestanden/{file_b.id}").status_code == 404

    student_b = student_browser(app, two_cases["code_b"])
    assert student_b.get(f"/volgen/melding/bestanden/{file_a.id}").status_code == 404
    assert student_b.get(f"/volgen/melding/bestanden/{file_b.id}").status_code == 200


def test_without_the_code_a_student_download_asks_for_the_code(app, two_cases):
    response = app.test_client().get(f"/volgen/melding/bestanden/{two_cases['file_a'].id}")

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/volgen")


def test_a_pending_upload_cannot_be_downloaded_by_anyone(app, client, institution, two_cases):
    page = page_text(post_report(client, institution, [("nog-niet.pdf", make_pdf())], narrative=""))
    assert upload_tokens(page)
    [pending] = pending_files()
    case_a = two_cases["case_a"]

    handler = staff_browser(app, two_cases["handler"])
    assert handler.get(f"/behandelen/zaken/{case_a.id}/bestanden/{pending.id}").status_code == 404
    student = student_browser(app, two_cases["code_a"])
    assert student.get(f"/volgen/melding/bestanden/{pending.id}").status_code == 404


def test_a_download_is_an_audit_event_without_the_files_name(app, two_cases):
    case, file_a = two_cases["case_a"], two_cases["file_a"]
    handler_user = two_cases["handler"]
    staff_browser(app, handler_user).get(f"/behandelen/zaken/{case.id}/bestanden/{file_a.id}")
    student_browser(app, two_cases["code_a"]).get(f"/volgen/melding/bestanden/{file_a.id}")

    events = audit_events("case.attachment_downloaded")

    assert [(e.case_id, e.actor_type, e.actor_id) for e in events] == [
        (case.id, "user", handler_user.id),
        (case.id, "reporter", None),
    ]
    for event in events:
        assert json.loads(event.details) == {"attachment_id": file_a.id}
        assert "Mail van het bedrijf" not in event.details and ".txt" not in event.details
    for event in audit_events("case.attachments_added"):
        assert ".txt" not in event.details and ".pdf" not in event.details


# --- Files with messages, both ways ------------------------------------------------------------


def test_handler_sends_the_student_a_file_with_a_message(app, institution):
    handler_user = make_user(Role.HANDLER, institution)
    case, code = make_case(institution)
    db.session.commit()
    handler = staff_browser(app, handler_user)
    body = "Hierbij het verslag van ons gesprek met het bedrijf."

    response = handler.post(
        f"/behandelen/zaken/{case.id}/bericht",
        data={"body": body, "attachments": as_uploads([("verslag.docx", make_docx())])},
    )

    assert response.status_code == 302
    fresh = reloaded(case)
    [message] = [m for m in fresh.messages if m.kind == Message.TO_STUDENT]
    [stored] = message.attachments
    assert stored.case_id == case.id and stored.uploaded_by_id == handler_user.id
    assert stored.original_name == "verslag.docx"
    student = student_browser(app, code)
    page = page_text(student.get("/volgen/melding"))
    assert body in page and "verslag.docx" in page
    assert _download_links(page, "/volgen/melding/bestanden/") == {stored.id}
    download = student.get(f"/volgen/melding/bestanden/{stored.id}")
    _assert_download_headers(download, "verslag.docx")
    assert download.data == make_docx()


def test_a_handlers_message_with_a_bad_file_keeps_the_text_and_the_good_file(app, institution):
    handler_user = make_user(Role.HANDLER, institution)
    case, _code = make_case(institution)
    db.session.commit()
    handler = staff_browser(app, handler_user)
    body = "Zie bijlage."

    response = handler.post(
        f"/behandelen/zaken/{case.id}/bericht",
        data={
            "body": body,
            "attachments": as_uploads([("goed.txt", b"goed\n"), ("slecht.pdf", b"\x00\x01")]),
        },
    )

    assert response.status_code == 422
    page = page_text(response)
    assert "slecht.pdf: Dit soort bestand kan niet." in field_error(page, "attachments")
    assert body in page
    [good] = pending_files()
    assert upload_tokens(page) == [good.token]
    assert reloaded(case).messages == []

    response = handler.post(
        f"/behandelen/zaken/{case.id}/bericht", data={"body": body, "attachment_token": good.token}
    )
    assert response.status_code == 302
    [message] = reloaded(case).messages
    assert [a.original_name for a in message.attachments] == ["goed.txt"]


def test_the_student_adds_a_file_to_a_later_message_and_the_handler_sees_it(app, institution):
    handler_user = make_user(Role.HANDLER, institution)
    case, code = make_case(institution)
    db.session.commit()
    student = student_browser(app, code)

    response = student.post(
        "/volgen/melding/bericht",
        data={
            "body": "Hier is de mail die ik kreeg.",
            "attachments": as_uploads([("afwijzing.eml", EML.encode())]),
        },
    )

    assert response.status_code == 302
    [message] = reloaded(case).messages
    assert message.kind == Message.FROM_STUDENT
    [stored] = message.attachments
    assert stored.uploaded_by_id is None and stored.kind == "eml"
    handler = staff_browser(app, handler_user)
    page = page_text(handler.get(f"/behandelen/zaken/{case.id}"))
    assert f"/behandelen/zaken/{case.id}/bestanden/{stored.id}" in page
    download = handler.get(f"/behandelen/zaken/{case.id}/bestanden/{stored.id}")
    _assert_download_headers(download, "afwijzing.eml")
    assert download.data == EML.encode()


def test_a_handler_enters_a_report_with_a_file(app, institution):
    handler_user = make_user(Role.HANDLER, institution)
    handler = staff_browser(app, handler_user)

    response = handler.post(
        "/behandelen/melding-invoeren",
        data={
            "narrative": NARRATIVE,
            "channel": "phone",
            "attachments": as_uploads([("aantekeningen.txt", TEXT.encode())]),
        },
    )

    assert response.status_code == 200 and 'class="receipt-code"' in page_text(response)
    [stored] = case_files(_only_case())
    assert stored.original_name == "aantekeningen.txt"
    assert stored.uploaded_by_id == handler_user.id and stored.message_id is None


# --- Chosen files go to the ADV and to SBB, and no others ----------------------------------------


def _delivered_to(smtp, recipient: str) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(envelope.content, policy=policy.default)
        for envelope in smtp.collector.envelopes
        if envelope.rcpt_tos == [recipient]
    ]


def _mail_files(message) -> dict[str, bytes]:
    return {
        part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()
    }


def _case_going_out(institution, **consents):
    """A case in follow-up, with its handler and three files; the student consented."""
    handler = make_user(Role.HANDLER, institution, name="Hanna Behandelaar")
    case, code = make_case(
        institution, company_id=make_company(name="Kapsalon De Schaar BV").id, **consents
    )
    workflow.acknowledge(case, handler)
    workflow.start_follow_up(case, handler)
    files = [
        make_attachment(case, make_pdf("Verklaring van een collega"), "verklaring collega.pdf"),
        make_attachment(case, TEXT.encode(), "GEHEIM-dagboek.txt"),
        make_attachment(case, make_png(), "schermafbeelding.png"),
    ]
    db.session.commit()
    return case, handler, code, files


def test_the_refer_form_offers_the_cases_files_and_none_ticked(app, institution):
    case, handler, _code, files = _case_going_out(institution, consent_adv=True)

    page = page_text(staff_browser(app, handler).get(f"/behandelen/zaken/{case.id}"))

    form = re.search(r'action="/behandelen/zaken/\d+/doorverwijzen".*?</form>', page, re.S).group(0)
    offered = re.findall(r'<input[^>]*name="refer-attachment_ids"[^>]*>', form)
    assert sorted(re.search(r'value="(\d+)"', i).group(1) for i in offered) == sorted(
        str(f.id) for f in files
    )
    assert not any("checked" in i for i in offered)


def test_the_adv_mail_carries_exactly_the_chosen_files(app, institution, smtp):
    case, handler, _code, (pdf, diary, png) = _case_going_out(institution, consent_adv=True)
    adv = case.institution.adv
    desk = staff_browser(app, handler)

    response = desk.post(
        f"/behandelen/zaken/{case.id}/doorverwijzen",
        data={
            "refer-adv_id": str(adv.id),
            "refer-summary": "Samenvatting voor het ADV.",
            "refer-attachment_ids": [str(pdf.id), str(png.id)],
        },
    )

    assert response.status_code == 302
    [referral] = reloaded(case).referrals
    assert [a.id for a in referral.attachments] == [pdf.id, png.id]
    [event] = [e for e in audit_events("case.referred") if e.case_id == case.id]
    assert json.loads(event.details)["attachment_ids"] == [pdf.id, png.id]
    sent, failed = send_due()
    assert failed == 0 and sent >= 1
    [delivered] = _delivered_to(smtp, adv.email)
    assert _mail_files(delivered) == {
        "verklaring collega.pdf": attachments.read(pdf),
        "schermafbeelding.png": attachments.read(png),
    }
    types = {part.get_filename(): part.get_content_type() for part in delivered.iter_attachments()}
    assert types == {
        "verklaring collega.pdf": "application/pdf",
        "schermafbeelding.png": "image/png",
    }
    raw = b"".join(e.content for e in smtp.collector.envelopes)
    assert b"GEHEIM-dagboek" not in raw
    body = delivered.get_body(preferencelist=("plain",)).get_content()
    assert "verklaring collega.pdf, schermafbeelding.png" in body
    # Other mail (the student's notices, the handlers') carries no file at all.
    for envelope in smtp.collector.envelopes:
        if envelope.rcpt_tos != [adv.email]:
            message = email.message_from_bytes(envelope.content, policy=policy.default)
            assert list(message.iter_attachments()) == []


def test_a_referral_without_chosen_files_mails_none(app, institution, smtp):
    case, handler, _code, _files_ = _case_going_out(institution, consent_adv=True)
    adv = case.institution.adv

    response = staff_browser(app, handler).post(
        f"/behandelen/zaken/{case.id}/doorverwijzen",
        data={"refer-adv_id": str(adv.id), "refer-summary": "Alleen de samenvatting."},
    )

    assert response.status_code == 302
    send_due()
    [delivered] = _delivered_to(smtp, adv.email)
    assert list(delivered.iter_attachments()) == []


def test_a_chosen_eml_reaches_the_adv_intact(app, institution, smtp):
    handler = make_user(Role.HANDLER, institution)
    case, _code = make_case(institution, consent_adv=True)
    workflow.acknowledge(case, handler)
    saved_mail = make_attachment(case, EML.encode(), "afwijzing.eml")
    db.session.commit()
    adv = case.institution.adv

    response = staff_browser(app, handler).post(
        f"/behandelen/zaken/{case.id}/doorverwijzen",
        data={
            "refer-adv_id": str(adv.id),
            "refer-summary": "Met de afwijzingsmail.",
            "refer-attachment_ids": str(saved_mail.id),
        },
    )
    assert response.status_code == 302
    send_due()

    [delivered] = _delivered_to(smtp, adv.email)
    [part] = list(delivered.iter_attachments())
    assert part.get_filename() == "afwijzing.eml"
    # A plain file part (message/rfc822 parts may not be base64-encoded): byte for byte.
    assert part.get_content_type() == "application/octet-stream"
    assert part.get_payload(decode=True) == EML.encode()
    forwarded = email.message_from_bytes(part.get_payload(decode=True), policy=email.policy.default)
    assert forwarded["Subject"] == "Uw sollicitatie"
    assert forwarded["From"] == "Personeelszaken <hr@bakkerij.example>"


def test_sbb_sees_and_downloads_exactly_the_files_shared_with_the_escalation(app, institution):
    case, handler, _code, (pdf, diary, png) = _case_going_out(institution, consent_sbb=True)
    reviewer_user = make_user(Role.SBB_REVIEWER)
    desk = staff_browser(app, handler)

    response = desk.post(
        f"/behandelen/zaken/{case.id}/doorzetten",
        data={"sbb-summary": "Samenvatting voor SBB.", "sbb-attachment_ids": [str(pdf.id)]},
    )

    assert response.status_code == 302
    [investigation] = reloaded(case).investigations
    assert [a.id for a in investigation.attachments] == [pdf.id]
    [event] = audit_events("case.escalated")
    assert json.loads(event.details)["attachment_ids"] == [pdf.id]
    reviewer = staff_browser(app, reviewer_user)
    prefix = f"/sbb/onderzoeken/{investigation.id}/bestanden/"
    page = page_text(reviewer.get(f"/sbb/onderzoeken/{investigation.id}"))
    assert _download_links(page, prefix) == {pdf.id}
    assert "verklaring collega.pdf" in page
    assert "GEHEIM-dagboek" not in page and "schermafbeelding" not in page

    download = reviewer.get(f"{prefix}{pdf.id}")
    _assert_download_headers(download, "verklaring collega.pdf")
    assert download.data == attachments.read(pdf)
    for other in (diary, png):
        assert reviewer.get(f"{prefix}{other.id}").status_code == 404
    [downloaded] = audit_events("investigation.attachment_downloaded")
    assert (downloaded.case_id, downloaded.actor_id) == (case.id, reviewer_user.id)
    assert json.loads(downloaded.details) == {
        "investigation_id": investigation.id,
        "attachment_id": pdf.id,
    }
    # The case's own addresses stay closed to SBB.
    assert reviewer.get(f"/behandelen/zaken/{case.id}/bestanden/{pdf.id}").status_code == 404


def test_sbb_cannot_download_a_file_through_an_investigation_it_was_not_shared_with(
    app, institution
):
    shared_case, handler, _code, (pdf, _diary, make_png) = _case_going_out(
        institution, consent_sbb=True
    )
    workflow.escalate(shared_case, handler, "Met bestand.", False, [pdf.id])
    other_case, _other_code = make_case(institution, consent_sbb=True, company_id=make_company().id)
    workflow.acknowledge(other_case, handler)
    bare = workflow.escalate(other_case, handler, "Zonder bestanden.", False)
    db.session.commit()
    reviewer = staff_browser(app, make_user(Role.SBB_REVIEWER))

    response = reviewer.get(f"/sbb/onderzoeken/{bare.id}/bestanden/{pdf.id}")

    assert response.status_code == 404
    assert audit_events("investigation.attachment_downloaded") == []


def test_a_handler_cannot_use_sbbs_download_address(app, institution):
    case, handler, _code, (pdf, _diary, make_png) = _case_going_out(institution, consent_sbb=True)
    investigation = workflow.escalate(case, handler, "Met bestand.", False, [pdf.id])
    db.session.commit()

    response = staff_browser(app, handler).get(
        f"/sbb/onderzoeken/{investigation.id}/bestanden/{pdf.id}"
    )

    assert response.status_code == 404


STEPS = [
    pytest.param(
        "doorverwijzen",
        "refer",
        {"consent_adv": True},
        lambda case: {
            "refer-adv_id": str(case.institution.adv_id),
            "refer-summary": "Samenvatting.",
        },
        id="refer",
    ),
    pytest.param(
        "doorzetten",
        "sbb",
        {"consent_sbb": True},
        lambda case: {"sbb-summary": "Samenvatting."},
        id="escalate",
    ),
]


@pytest.mark.parametrize("route, prefix, consents, form", STEPS)
def test_a_file_of_another_case_is_refused_beside_the_field_and_nothing_is_created(
    app, institution, route, prefix, consents, form
):
    case, handler, _code, (own, _diary, make_png) = _case_going_out(institution, **consents)
    other_case, _other_code = make_case(institution)
    foreign = make_attachment(other_case, make_pdf("Van een andere melding"), "ander.pdf")
    db.session.commit()
    before = (count(Referral), count(Investigation), count(OutboxMail))

    response = staff_browser(app, handler).post(
        f"/behandelen/zaken/{case.id}/{route}",
        data={**form(case), f"{prefix}-attachment_ids": [str(own.id), str(foreign.id)]},
    )

    assert response.status_code == 422
    page = page_text(response)
    assert field_error(page, f"{prefix}-attachment_ids") == (
        "Kies alleen bestanden van deze melding."
    )
    assert "Samenvatting." in page  # what was typed is kept
    assert "ander.pdf" not in page
    assert reloaded(case).status == Status.FOLLOW_UP
    assert (count(Referral), count(Investigation), count(OutboxMail)) == before
    assert audit_events("case.referred") == [] and audit_events("case.escalated") == []


@pytest.mark.parametrize("route, prefix, consents, form", STEPS)
def test_a_file_id_that_is_not_a_number_is_refused(app, institution, route, prefix, consents, form):
    case, handler, _code, _files_ = _case_going_out(institution, **consents)

    response = staff_browser(app, handler).post(
        f"/behandelen/zaken/{case.id}/{route}",
        data={**form(case), f"{prefix}-attachment_ids": ["1 OR 1=1"]},
    )

    assert response.status_code == 422
    assert field_error(page_text(response), f"{prefix}-attachment_ids") == (
        "Kies alleen bestanden van deze melding."
    )
    assert reloaded(case).status == Status.FOLLOW_UP


# --- Uploads of forms never sent are removed -----------------------------------------------------


def test_purge_pending_removes_stale_uploads_with_their_files_and_keeps_the_rest(
    app, client, institution
):
    page = page_text(
        post_report(
            client, institution, [("oud.txt", b"oud\n"), ("vers.txt", b"vers\n")], narrative=""
        )
    )
    assert len(upload_tokens(page)) == 2
    stale, recent = pending_files()
    case, _code = make_case(institution)
    attached = make_attachment(case, b"bij een melding\n", "bewaren.txt")
    long_ago = utcnow() - timedelta(hours=app.config["PENDING_UPLOAD_HOURS"] + 1)
    stale.created_at = long_ago
    attached.created_at = long_ago - timedelta(days=30)
    db.session.commit()
    stale_id = stale.id

    assert attachments.purge_pending() == 1
    db.session.commit()

    assert stored_bytes(stale_id) is None
    assert stored_bytes(recent.id) and stored_bytes(attached.id)
    remaining = db.session.scalars(sa.select(Attachment.id).order_by(Attachment.id)).all()
    assert remaining == sorted([recent.id, attached.id])
    assert attachments.read(db.session.get(Attachment, attached.id)) == b"bij een melding\n"


def test_a_purged_uploads_token_no_longer_attaches_anything(app, client, institution):
    page = page_text(post_report(client, institution, [("oud.txt", b"oud\n")], narrative=""))
    [token] = upload_tokens(page)
    [stale] = pending_files()
    stale.created_at = utcnow() - timedelta(hours=app.config["PENDING_UPLOAD_HOURS"] + 1)
    db.session.commit()
    attachments.purge_pending()  # may also find other tests' unnamed old files
    db.session.commit()
    assert pending_files() == []

    response = post_report(client, institution, attachment_token=token)

    assert _is_receipt(response)
    assert case_files(_only_case()) == []
