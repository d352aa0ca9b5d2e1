"""The learning-company register: finding a company, and loading the register from CSV."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from typing import TextIO

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from . import audit
from .extensions import db
from .models import Company
from .progress import Progress, silent

SEARCH_LIMIT = 10


def matching(query: str) -> sa.Select:
    """Companies whose name or city contains every word typed, or whose KvK number matches.

    `%` and `_` are literal characters here, not wildcards.
    """
    select = sa.select(Company)
    # A few words of sensible length: a name, a city, a KvK number (LIKE patterns stay small).
    for word in [w[:50] for w in query[:200].lower().split() if w][:5]:
        select = select.where(
            sa.or_(
                sa.func.lower(Company.name).contains(word, autoescape=True),
                sa.func.lower(Company.city).contains(word, autoescape=True),
                Company.kvk == word,
            )
        )
    return select


def search(query: str, limit: int = SEARCH_LIMIT) -> list[Company]:
    if not query.split():
        return []
    return db.session.scalars(matching(query).order_by(Company.name).limit(limit)).all()


def get(company_id: int | None) -> Company | None:
    return db.session.get(Company, company_id) if company_id else None


def add_unverified(name: str, city: str, kvk: str | None, user) -> Company:
    """A company a report names but the register lacks, for SBB to match or merge later.

    A KvK number already in the register gives that company instead of a copy.
    """
    if kvk:
        known = db.session.scalar(sa.select(Company).where(Company.kvk == kvk))
        if known is not None:
            return known
    company = Company(name=name.strip(), city=city.strip(), kvk=kvk or None, verified=False)
    db.session.add(company)
    db.session.flush()
    audit.record("company.added_unverified", actor=user, company_id=company.id)
    return company


def verify(company: Company, user) -> None:
    """SBB confirms that an unverified company is a real learning company."""
    company.verified = True
    audit.record("company.verified", actor=user, company_id=company.id)


def merge(duplicate: Company, into: Company, user) -> None:
    """SBB matches an unverified company to the register: everything moves to `into`."""
    from .models import Case, Investigation, RecognitionChange

    if duplicate.verified or duplicate.id == into.id:
        raise ValueError("only an unverified company merges, into another one")
    duplicate_id = duplicate.id
    # Each case's timeline shows that its company became the register's entry.
    cases = db.session.scalars(
        sa.select(Case).where(Case.company_id == duplicate_id).order_by(Case.id)
    ).all()
    for case in cases:
        audit.record(
            "case.company_merged",
            case=case,
            actor=user,
            company_id=into.id,
            merged_company_id=duplicate_id,
        )
    moved = {}
    for model in (Case, Investigation, RecognitionChange):
        result = db.session.execute(
            sa.update(model)
            .where(model.company_id == duplicate_id)
            .values(company_id=into.id)
            .execution_options(synchronize_session=False)
        )
        moved[model.__tablename__] = result.rowcount
    db.session.delete(duplicate)
    db.session.flush()
    db.session.expire_all()
    audit.record(
        "company.merged", actor=user, company_id=into.id, merged_company_id=duplicate_id, **moved
    )


# --- Importing the register from CSV -------------------------------------------------

# Accepted header names per field (case-insensitive); the first is the documented one.
CSV_COLUMNS = {
    "kvk": ("kvk", "kvk_nummer", "kvk_number"),
    "name": ("naam", "name"),
    "sbb_number": ("sbb_nummer", "sbb_number"),
    "address": ("adres", "address"),
    "city": ("plaats", "city"),
    "sector": ("sector",),
}
REQUIRED_COLUMNS = ("kvk", "name")
FIELD_LIMITS = {"name": 200, "sbb_number": 20, "address": 200, "city": 100, "sector": 100}
KVK_RE = re.compile(r"[0-9]{8}")
SBB_RE = re.compile(r"[0-9A-Za-z\-]{1,20}")
CHUNK = 5000


class UnreadableFileError(Exception):
    """The file as a whole cannot be read; nothing was written."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass
class ImportResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    # (line number in the file, what is wrong), in file order
    rejected: list[tuple[int, str]] = field(default_factory=list)


def valid_kvk(value: str) -> str | None:
    """The 8-digit KvK number in `value` (spaces and dots allowed), or None."""
    digits = re.sub(r"[\s.]", "", value or "")
    return digits if KVK_RE.fullmatch(digits) else None


def _header_map(header: list[str]) -> dict[str, int]:
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    positions = {}
    for field_name, aliases in CSV_COLUMNS.items():
        for alias in aliases:
            if alias in names:
                positions[field_name] = names.index(alias)
                break
    missing = [CSV_COLUMNS[f][0] for f in REQUIRED_COLUMNS if f not in positions]
    if missing:
        raise UnreadableFileError(
            _l("De kolommen %(columns)s ontbreken in de eerste regel.", columns=", ".join(missing))
        )
    return positions


def _parse_row(values: list[str], positions: dict[str, int], width: int) -> dict | str:
    """The company fields of one row, or what is wrong with it."""
    if len(values) != width:
        return str(
            _l(
                "Deze regel heeft %(found)d kolommen, de kop %(width)d.",
                found=len(values),
                width=width,
            )
        )
    row = {f: (values[i] or "").replace("\x00", "").strip() for f, i in positions.items()}
    kvk = valid_kvk(row.get("kvk", ""))
    if kvk is None:
        return str(_l("Het KvK-nummer moet uit 8 cijfers bestaan."))
    if not row.get("name"):
        return str(_l("De naam ontbreekt."))
    for field_name, limit in FIELD_LIMITS.items():
        if len(row.get(field_name, "")) > limit:
            return str(_l("%(field)s is langer dan %(max)d tekens.", field=field_name, max=limit))
    sbb = row.get("sbb_number") or None
    if sbb is not None and not SBB_RE.fullmatch(sbb):
        return str(_l("Het SBB-nummer bestaat uit letters, cijfers en streepjes."))
    return {
        "kvk": kvk,
        "name": row["name"],
        "sbb_number": sbb,
        "address": row.get("address", ""),
        "city": row.get("city", ""),
        "sector": row.get("sector", ""),
    }


def read_csv(stream: TextIO) -> tuple[dict[str, dict], list[tuple[int, str]]]:
    """Valid rows by KvK number, and the rejected rows with their line numbers."""
    sample = stream.read(4096)
    stream.seek(0)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(stream, dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise UnreadableFileError(_l("Het bestand is leeg.")) from None
    positions = _header_map(header)
    valid: dict[str, dict] = {}
    first_line: dict[str, int] = {}
    rejected: list[tuple[int, str]] = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        parsed = _parse_row(values, positions, len(header))
        if isinstance(parsed, str):
            rejected.append((line, parsed))
        elif parsed["kvk"] in valid:
            rejected.append(
                (
                    line,
                    str(
                        _l(
                            "Dit KvK-nummer staat al op regel %(line)d.",
                            line=first_line[parsed["kvk"]],
                        )
                    ),
                )
            )
        else:
            valid[parsed["kvk"]] = parsed
            first_line[parsed["kvk"]] = line
    return valid, rejected


def _existing_by_kvk(kvks: list[str], columns: tuple[str, ...]) -> dict[str, sa.Row]:
    """The register's current rows for these KvK numbers.

    A large file is compared against one pass over the register; a small one
    looks its numbers up by index. (Long IN lists against a table whose
    statistics are stale make PostgreSQL scan the table once per list.)
    """
    table = Company.__table__
    select = sa.select(table.c.id, table.c.kvk, *(table.c[c] for c in columns))
    if len(kvks) > CHUNK:
        wanted = set(kvks)
        rows = db.session.execute(select.where(table.c.kvk.is_not(None)))
        return {row.kvk: row for row in rows if row.kvk in wanted}
    return {row.kvk: row for row in db.session.execute(select.where(table.c.kvk.in_(kvks)))}


def import_register(stream: TextIO, progress: Progress = silent) -> ImportResult:
    """Load or update the register from CSV in the current transaction (the caller commits).

    A bad row is reported with its line number and skipped; a file that cannot
    be read at all raises UnreadableFileError before anything is written. Companies
    are matched on their KvK number; set-based inserts and updates keep a file
    of 100,000 companies to seconds.
    """
    try:
        valid, rejected = read_csv(stream)
    except UnicodeDecodeError:
        raise UnreadableFileError(_l("Het bestand is geen UTF-8-tekst.")) from None
    result = ImportResult(rejected=rejected)
    columns = ("name", "sbb_number", "address", "city", "sector")
    existing = _existing_by_kvk(list(valid), (*columns, "verified"))
    inserts, updates = [], []
    for kvk, fields in valid.items():
        current = existing.get(kvk)
        if current is None:
            inserts.append({**fields, "verified": True})
        elif not current.verified or any(getattr(current, c) != fields[c] for c in columns):
            # A company a handler added by its KvK number is now confirmed by the register.
            updates.append({"id": current.id, "verified": True, **{c: fields[c] for c in columns}})
        else:
            result.unchanged += 1
    total, done = len(inserts) + len(updates), 0
    for start in range(0, len(inserts), CHUNK):
        db.session.execute(sa.insert(Company), inserts[start : start + CHUNK])
        done += len(inserts[start : start + CHUNK])
        progress("import-companies", done, total)
    for start in range(0, len(updates), CHUNK):
        db.session.execute(sa.update(Company), updates[start : start + CHUNK])
        done += len(updates[start : start + CHUNK])
        progress("import-companies", done, total)
    result.inserted, result.updated = len(inserts), len(updates)
    if len(inserts) > CHUNK and db.session.get_bind().dialect.name == "postgresql":
        # Fresh statistics, so that the next import and searches use the indexes.
        db.session.execute(sa.text("ANALYZE company"))
    audit.record(
        "companies.imported",
        actor="system",
        inserted=result.inserted,
        updated=result.updated,
        unchanged=result.unchanged,
        rejected=len(result.rejected),
    )
    return result
