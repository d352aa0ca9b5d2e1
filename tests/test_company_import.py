"""Loading the learning-company register from CSV: bad rows skipped and named, re-imports update."""

import sqlalchemy as sa

from stagepact.extensions import db
from stagepact.models import AuditEvent, Company
from tests.factories import make_company
from tests.helpers import count

HEADER = "kvk,naam,sbb_nummer,adres,plaats,sector\n"


def _import(runner, tmp_path, text: str, name: str = "register.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return runner.invoke(args=["stagepact", "import-companies", str(path)])


def _company(kvk: str) -> Company:
    db.session.expire_all()
    return db.session.scalar(sa.select(Company).where(Company.kvk == kvk))


def test_import_loads_companies_and_reports_bad_rows_by_line_number(runner, tmp_path):
    result = _import(
        runner,
        tmp_path,
        HEADER
        + "12345678,Bakkerij De Korf,SBB-1,Markt 1,Zwolle,Voeding\n"
        + "1234567,Te Kort BV,,,Assen,\n"
        + "23456789,,,,Assen,\n"
        + "3456 7890,Garage Snel,,Weg 2,Assen,Mobiliteit\n"
        + "12345678,Dubbel BV,,,Zwolle,\n"
        + "45678901,Te veel,kolommen,,,,,\n",
    )

    assert result.exit_code == 0, result.output
    assert "regel 3 overgeslagen: Het KvK-nummer moet uit 8 cijfers bestaan." in result.output
    assert "regel 4 overgeslagen: De naam ontbreekt." in result.output
    assert "regel 6 overgeslagen: Dit KvK-nummer staat al op regel 2." in result.output
    assert "regel 7 overgeslagen" in result.output
    assert "2 leerbedrijven toegevoegd" in result.output
    korf = _company("12345678")
    assert (korf.name, korf.sbb_number, korf.city, korf.sector) == (
        "Bakkerij De Korf",
        "SBB-1",
        "Zwolle",
        "Voeding",
    )
    assert _company("34567890").name == "Garage Snel"
    assert count(Company) == 2
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "companies.imported")
    )
    assert '"rejected": 4' in event.details


def test_a_re_import_updates_by_kvk_and_never_duplicates(runner, tmp_path):
    existing = make_company(name="Oude Naam BV", kvk="12345678", city="Zwolle")
    db.session.commit()

    first = _import(runner, tmp_path, HEADER + "12345678,Nieuwe Naam BV,,,Zwolle,Zorg\n")
    second = _import(runner, tmp_path, HEADER + "12345678,Nieuwe Naam BV,,,Zwolle,Zorg\n")

    assert "1 bijgewerkt" in first.output
    assert "1 ongewijzigd" in second.output
    assert count(Company) == 1
    assert _company("12345678").id == existing.id
    assert _company("12345678").name == "Nieuwe Naam BV"


def test_semicolons_a_bom_and_quoted_fields_are_read(runner, tmp_path):
    text = '\ufeffKvK;Naam;Plaats\n87654321;"Zorg; en Welzijn BV";Den Haag\n'

    result = _import(runner, tmp_path, text)

    assert result.exit_code == 0, result.output
    assert _company("87654321").name == "Zorg; en Welzijn BV"


def test_a_file_without_the_required_columns_writes_nothing(runner, tmp_path):
    result = _import(runner, tmp_path, "naam,plaats\nBakkerij,Zwolle\n")

    assert result.exit_code == 1
    assert "kvk" in result.output
    assert count(Company) == 0
    assert count(AuditEvent) == 0


def test_a_file_that_is_not_utf8_writes_nothing(runner, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        (HEADER + "12345678,Caf\u00e9 \u00c9l\u00e9gance,,,Zwolle,\n").encode("latin-1")
    )

    result = runner.invoke(args=["stagepact", "import-companies", str(path)])

    assert result.exit_code == 1
    assert "UTF-8" in result.output
    assert count(Company) == 0


def test_an_empty_file_is_refused(runner, tmp_path):
    result = _import(runner, tmp_path, "")

    assert result.exit_code == 1
    assert count(Company) == 0


def test_a_large_re_import_is_matched_against_the_whole_register(runner, tmp_path):
    rows = [f"{20_000_000 + n},Bedrijf {n},,,Utrecht,\n" for n in range(5_100)]
    _import(runner, tmp_path, HEADER + "".join(rows))
    rows[7] = "20000007,Bedrijf zeven hernoemd,,,Utrecht,\n"

    result = _import(runner, tmp_path, HEADER + "".join(rows), name="again.csv")

    assert "0 leerbedrijven toegevoegd, 1 bijgewerkt, 5099 ongewijzigd" in result.output
    assert count(Company) == 5_100
    assert _company("20000007").name == "Bedrijf zeven hernoemd"
