"""Helpers shared by the test modules: reading what a request left behind, and walking
every route of the application."""

from __future__ import annotations

import base64
import html
import itertools
import json
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from html.parser import HTMLParser
from urllib.parse import unquote

import sqlalchemy as sa
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature
from werkzeug.routing import Rule

from stagepact.crypto import EncryptedText
from stagepact.extensions import db
from stagepact.models import AuditEvent

# Events that record only that a staff member saw a case or an investigation. A refused
# action shows its page again, and that showing is a read like any other.
READS = ("case.viewed", "investigation.viewed")


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def page_text(response) -> str:
    return response.get_data(as_text=True)


def reloaded(obj, row_id: int | None = None):
    """`obj` read again from the database, past anything the session remembers; or the row
    `row_id` of the model `obj`."""
    db.session.expire_all()
    if row_id is None:
        return db.session.get(type(obj), obj.id)
    return db.session.get(obj, row_id)


def audit_events(action: str | None = None, **where) -> list[AuditEvent]:
    """The audit events of `action` (any action when None) whose columns have the given
    values, in the order they were recorded."""
    query = sa.select(AuditEvent)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    for column, value in where.items():
        query = query.where(getattr(AuditEvent, column) == value)
    return db.session.scalars(query.order_by(AuditEvent.id)).all()


def field_error(page: str, field_id: str) -> str | None:
    """The message beside a field (`id="<field>-error"`) as a reader hears it: tags left
    out, entities read, spaces collapsed, without the hidden "Fout:"; None without one."""
    match = re.search(rf'id="{field_id}-error"[^>]*>(.*?)</p>', page, re.S)
    if match is None:
        return None
    text = html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))
    return " ".join(text.replace("Fout:", "").split())


def changes_in_trail() -> int:
    """Audit events that record a change (or an attempt), not a read."""
    return count(AuditEvent, AuditEvent.action.not_in(READS))


def header_texts(app, response) -> list[str]:
    """Every header of a response, and every cookie it sets decoded as far as it goes.

    Flask's session cookie is `payload.timestamp.signature`, where a payload that
    starts with "." is zlib-compressed base64. Its content is given twice: as
    anyone holding the cookie can decode it without the key, and as Flask reads it.
    """
    texts = [f"{name}: {value}" for name, value in response.headers.items()]
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    for header in response.headers.getlist("Set-Cookie"):
        value = unquote(header.split(";", 1)[0].partition("=")[2])
        texts.append(value)
        payload = value.removeprefix(".").split(".", 1)[0]
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            if value.startswith("."):
                raw = zlib.decompress(raw)
            texts.append(raw.decode("utf-8", "replace"))
        except (ValueError, zlib.error):  # binascii.Error is a ValueError
            pass
        try:
            texts.append(json.dumps(serializer.loads(value), default=str))
        except BadSignature:
            pass
    return texts


def _filler(column: sa.Column):
    """A value any NOT NULL column without a given value accepts."""
    if isinstance(column.type, sa.Enum):
        return column.type.enums[0]
    python_type = column.type.python_type if not isinstance(column.type, EncryptedText) else str
    return {
        int: 1,
        bool: False,
        str: "x",
        datetime: datetime(2026, 3, 2, 9, 0),
        date: date(2026, 3, 9),
    }[python_type]


def insert_row(conn, table_name: str, **values) -> None:
    """One row written as plain SQL values (no column type encrypts anything), filling
    the required columns the database has at its revision: for migration tests."""
    model_table = db.metadata.tables[table_name]
    present = {c["name"]: c for c in sa.inspect(conn).get_columns(table_name)}
    # The model's columns, then any the database had at its revision that the model
    # has since dropped.
    columns = [c for c in model_table.columns if c.name in present] + [
        sa.Column(name, info["type"], nullable=info["nullable"])
        for name, info in present.items()
        if name not in model_table.columns and info["default"] is None
    ]
    row = dict(values)
    for column in columns:
        if column.name in row or column.nullable or column.primary_key:
            continue
        row[column.name] = _filler(column)
    table = sa.table(table_name, *(sa.column(name) for name in row))
    conn.execute(sa.insert(table).values(row))


class FormState(HTMLParser):
    """What a browser would show in the form: values, checked boxes, selected options."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.values: dict[str, list[str]] = {}
        self.elements: dict[str, dict] = {}
        self._textarea: str | None = None
        self._text: list[str] = []
        self._select: str | None = None
        self.feed(page)
        self.close()

    def _add(self, name, value):
        self.values.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.elements[attrs["id"]] = attrs
        name = attrs.get("name")
        if tag == "input" and name:
            if attrs.get("type") in ("radio", "checkbox"):
                if "checked" in attrs:
                    self._add(name, attrs.get("value"))
            elif attrs.get("type") not in ("submit", "button"):
                self._add(name, attrs.get("value") or "")
        elif tag == "textarea":
            self._textarea, self._text = name, []
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in attrs:
            self._add(self._select, attrs.get("value"))

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea:
            text = "".join(self._text)
            # HTML drops one newline right after <textarea>; WTForms writes one.
            for newline in ("\r\n", "\n"):
                if text.startswith(newline):
                    text = text[len(newline) :]
                    break
            self._add(self._textarea, text)
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)


# --- Keeping a world of rows ---------------------------------------------------------------


def stored_rows() -> dict[str, list[dict]]:
    """Every row of every table, raw as stored (ciphertexts as they are): what
    `restore_rows` puts back, so that a world built once serves many tests."""
    db.session.commit()
    rows = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            query = (
                sa.select(*(sa.column(c.name) for c in table.columns))
                .select_from(sa.table(table.name))
                .order_by(*(sa.column(c.name) for c in table.primary_key.columns))
            )
            rows[table.name] = [dict(row._mapping) for row in conn.execute(query)]
    return rows


def restore_rows(rows: dict[str, list[dict]]) -> None:
    """Empty every table and write `rows` back, raw, parents before children."""
    db.session.rollback()
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
        for table in db.metadata.sorted_tables:
            if rows.get(table.name):
                columns = sa.table(table.name, *(sa.column(name) for name in rows[table.name][0]))
                conn.execute(sa.insert(columns), rows[table.name])
    db.session.expire_all()


# --- Walking the URL map ------------------------------------------------------------------

HOST = "meldpunt.test"


@dataclass(frozen=True)
class Route:
    """One request a walk makes: a method on a URL built from a rule."""

    method: str
    url: str
    endpoint: str
    rule: Rule

    @property
    def blueprint(self) -> str:
        return self.endpoint.split(".")[0]

    @property
    def post_only(self) -> bool:
        return "GET" not in self.rule.methods


def choices(rule: Rule, name: str) -> list[str] | None:
    """The values an argument with a fixed set of them (`<any(a, b):name>`) takes."""
    items = getattr(rule._converters.get(name), "items", None)
    return sorted(items) if items else None


def unknown_arguments(rule: Rule, arguments: Mapping) -> set[str]:
    return {name for name in rule.arguments if name not in arguments and not choices(rule, name)}


def variants(rule: Rule, arguments: Mapping, order: Iterable[str]) -> list[dict]:
    """Every combination of values for the rule's arguments. A value in `arguments` is one
    value, a list of them, or a function of the values chosen so far (in `order`) that
    gives a list; an argument with fixed choices takes each of them unless given."""
    unknown = unknown_arguments(rule, arguments)
    assert not unknown, f"teach this test the argument {', '.join(sorted(unknown))} of {rule.rule}"
    order = list(order)
    names = sorted(
        rule.arguments, key=lambda n: (n not in order, order.index(n) if n in order else 0, n)
    )
    variants = [{}]
    for name in names:
        expanded = []
        for values in variants:
            given = arguments.get(name, choices(rule, name))
            if callable(given):
                given = given(values)
            given = given if isinstance(given, list | tuple) else [given]
            assert given, f"no value for {name} of {rule.rule}"
            expanded += [{**values, name: value} for value in given]
        variants = expanded
    return variants


def walk_routes(
    app,
    arguments: Mapping | None = None,
    *,
    where: Callable[[Rule], bool] = lambda rule: True,
    methods: Iterable[str] | None = None,
    order: Iterable[str] = (),
) -> list[Route]:
    """Every request the URL map holds, in a stable order: each rule `where` keeps (never
    the static files), each of its `methods` (all but HEAD and OPTIONS), its arguments filled from `arguments`. A rule
    whose argument `arguments` does not know fails the walk, so that a new route is either
    covered or named, never skipped."""
    adapter = app.url_map.bind(HOST)
    arguments = arguments or {}
    rules = sorted(app.url_map.iter_rules(), key=lambda rule: (rule.endpoint, rule.rule))
    found = []
    for rule in rules:
        if rule.endpoint == "static" or not where(rule):
            continue
        taken = sorted(rule.methods - {"HEAD", "OPTIONS"})
        wanted = [method for method in methods or taken if method in taken]
        if not wanted:
            continue
        for values, method in itertools.product(variants(rule, arguments, order), wanted):
            url = adapter.build(rule.endpoint, values, method=method)
            found.append(Route(method, url, rule.endpoint, rule))
    return found


def in_blueprint(*names: str) -> Callable[[Rule], bool]:
    return lambda rule: rule.endpoint.split(".")[0] in names


def rule_for(url_map, endpoint: str, method: str) -> Rule:
    """The rule of `endpoint` that takes `method`."""
    return next(r for r in url_map.iter_rules() if r.endpoint == endpoint and method in r.methods)
