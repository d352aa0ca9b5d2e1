"""Claims of SECURITY.md that no other test showed; each test fails if its claim breaks."""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

import config
from stagepact import accounts, api_tokens
from stagepact.crypto import verify_password
from stagepact.extensions import db
from stagepact.vocab import Role
from tests.factories import PASSWORD, make_user
from tests.helpers import reloaded

ROOT = Path(__file__).resolve().parent.parent
CODE = [*sorted((ROOT / "stagepact").rglob("*.py")), ROOT / "config.py", ROOT / "app.py"]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))


def _long_password(length: int) -> str:
    """A password nobody would guess, of exactly `length` characters."""
    text = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(8))
    return text[:length]


def _change_password(client, current: str, new: str):
    return client.post(
        "/account/wachtwoord",
        data={"pw-current": current, "pw-password": new, "pw-repeat": new},
    )


# --- V2 Authentication ------------------------------------------------------------------------


@pytest.mark.parametrize("length", [64, 128, 200])
def test_a_password_of_64_up_to_200_characters_is_accepted_and_logs_in(client, auth, length):
    """2.1.2: through the account page's form, and the login form takes it whole."""
    user = make_user(Role.HANDLER)
    assert auth.login(user).status_code == 302
    long_password = _long_password(length)

    changed = _change_password(client, PASSWORD, long_password)

    assert changed.status_code == 302, changed.get_data(as_text=True)
    auth.logout()
    assert auth.login(user, PASSWORD).status_code != 302
    assert auth.login(user, long_password).status_code == 302
    # The whole password counts, not a prefix of it.
    auth.logout()
    assert auth.login(user, long_password[:-1]).status_code != 302


def test_a_password_of_201_characters_is_refused():
    """2.1.2: the documented ceiling is 200."""
    assert accounts.password_problem(_long_password(200)) is None
    assert accounts.password_problem(_long_password(201)) is not None


@pytest.mark.parametrize(
    "password",
    [
        "kanaalfietsbelparaplu",  # lower-case letters only
        "KANAALFIETSBELPARAPLU",  # capitals only
        "kanaal fietsbel paraplu",  # words and spaces, no digit, no symbol
        "8302 5519 7746 1093",  # digits and spaces only
    ],
)
def test_no_composition_rules_a_strong_password_of_one_kind_of_character_is_accepted(password):
    """2.1.9: no mix of capitals, digits or symbols is demanded."""
    assert accounts.password_problem(password) is None


def test_an_invitation_sets_no_password_and_its_link_works_once(app):
    """2.3.1: the invited account has no password until its owner chooses one, once."""
    admin = make_user(Role.INSTITUTION_ADMIN)
    user, token = accounts.invite(
        email="nieuw@school.example",
        name="Nieuwe Collega",
        role=Role.HANDLER,
        institution=admin.institution,
        actor=admin,
    )
    db.session.commit()
    assert reloaded(user).password_hash is None
    client = app.test_client()
    for guess in ("", PASSWORD, "password"):
        login = client.post("/inloggen", data={"email": user.email, "password": guess})
        assert login.status_code != 302

    first = _long_password(30)
    chosen = client.post(
        "/wachtwoord-instellen", data={"token": token, "password": first, "repeat": first}
    )
    assert chosen.status_code == 302
    second = _long_password(40)
    again = app.test_client().post(
        "/wachtwoord-instellen", data={"token": token, "password": second, "repeat": second}
    )
    assert again.status_code == 422
    assert "Deze code werkt niet" in again.get_data(as_text=True)
    stored = reloaded(user).password_hash
    assert verify_password(stored, first)
    assert not verify_password(stored, second)


def test_passwords_are_stored_with_argon2id_at_owasp_strength_in_production():
    """2.4.1: argon2id, and production's parameters at least OWASP's minimum
    (19 MiB memory with 2 iterations)."""
    user = make_user(Role.HANDLER)
    accounts.set_password(user, _long_password(20))
    assert user.password_hash.startswith("$argon2id$")
    assert config.ProductionConfig.PASSWORD_MEMORY_COST >= 19 * 1024
    assert config.ProductionConfig.PASSWORD_TIME_COST >= 2


def test_changing_the_password_needs_the_current_one(client, auth):
    """3.7.1: a wrong or missing current password changes nothing."""
    user = make_user(Role.HANDLER)
    assert auth.login(user).status_code == 302
    new = _long_password(24)

    for current in ("niet-het-wachtwoord", ""):
        refused = _change_password(client, current, new)
        assert refused.status_code == 422
    assert verify_password(reloaded(user).password_hash, PASSWORD)
    assert not verify_password(reloaded(user).password_hash, new)

    assert _change_password(client, PASSWORD, new).status_code == 302
    assert verify_password(reloaded(user).password_hash, new)


# --- V5 Validation, sanitisation and encoding -------------------------------------------------


def test_only_the_server_made_qr_code_is_rendered_unescaped(app):
    """5.2.1: autoescaping is on for every HTML template; the one `|safe` is the QR SVG."""
    assert all(app.jinja_env.autoescape(path.name) for path in TEMPLATES)
    unescaped = []
    for path in TEMPLATES:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"\|\s*safe\b|autoescape\s+false|Markup", text):
            line = text.count("\n", 0, match.start()) + 1
            unescaped.append((str(path.relative_to(ROOT)), line))
    assert [path for path, _line in unescaped] == ["templates/auth/enrol.html"]
    python = [p for p in CODE if re.search(r"\bMarkup\(|markupsafe", p.read_text("utf-8"))]
    assert python == []


def _sql_built_from_strings(node: ast.AST) -> bool:
    """An f-string, `%`, `+` or `.format()` — SQL built by pasting text together."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return True
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    )


def test_no_sql_is_built_by_pasting_strings_together():
    """5.3.4: every text handed to the database as SQL is a constant."""
    sql_calls = {"text", "execute", "exec_driver_sql", "literal_column"}

    def is_sql_call(func, imported: set[str]) -> str | None:
        if isinstance(func, ast.Name) and func.id in imported:
            return func.id  # `from sqlalchemy import text`
        if not isinstance(func, ast.Attribute) or func.attr not in sql_calls:
            return None
        if func.attr in ("text", "literal_column"):
            owner = func.value  # `sa.text(...)`, not a method of our own called text()
            if not (isinstance(owner, ast.Name) and owner.id in ("sa", "sqlalchemy")):
                return None
        return func.attr

    pasted, literal_sql = [], []
    for path in CODE:
        tree = ast.parse(path.read_text("utf-8"))
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")
            for alias in node.names
            if alias.name in ("text", "literal_column")
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = is_sql_call(node.func, imported)
            if name:
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if _sql_built_from_strings(node.args[0]):
                    pasted.append(where)
                if name in ("text", "exec_driver_sql", "literal_column"):
                    literal_sql.append(where)
    assert pasted == []
    # The only raw SQL is one constant statement.
    assert [where.split(":")[0] for where in literal_sql] == ["stagepact/companies.py"]


# --- V6 Cryptography ----------------------------------------------------------------------


def test_no_code_draws_from_the_non_cryptographic_random_module():
    """6.3.1: codes, tokens and keys come from `secrets` (or the OS), never `random`."""
    users = []
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(n == "random" or n.endswith(".random") for n in names):
                users.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert users == []


def test_links_recovery_codes_and_api_tokens_come_from_secrets(monkeypatch):
    """6.3.1: each value is what `secrets` gave, so a weaker source would show."""
    import secrets

    drawn = []

    def spy(name):
        real = getattr(secrets, name)

        def wrapped(*args):
            value = real(*args)
            drawn.append(value)
            return value

        monkeypatch.setattr(secrets, name, wrapped)

    for name in ("token_urlsafe", "token_hex"):
        spy(name)
    handler = make_user(Role.HANDLER)
    monitor = make_user(Role.MONITOR)

    link = accounts.issue_link(handler, "reset")
    _token, plain = api_tokens.create(monitor, "dashboard")
    codes = accounts.new_recovery_codes(handler)

    assert link in drawn
    assert plain.removeprefix(api_tokens.PREFIX) in drawn
    for code in codes:
        assert all(part in drawn for part in code.split("-"))


# --- V7 Errors ----------------------------------------------------------------------------


def test_an_unexpected_error_shows_the_generic_page_without_a_trace(app, client, monkeypatch):
    """7.4.1: what went wrong stays in the log."""

    def broken():
        raise RuntimeError("geheim-detail uit de database")

    monkeypatch.setitem(app.view_functions, "auth.login", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)

    response = client.get("/inloggen")

    assert response.status_code == 500
    html = response.get_data(as_text=True)
    for leak in ("geheim-detail", "RuntimeError", "Traceback", 'File "', "broken"):
        assert leak not in html


# --- V10 Malicious code and dependencies ---------------------------------------------------


def _requirements(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r "):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]+\])?==([0-9][0-9A-Za-z.]*)", line)
        assert match, f"{name}: {line!r} is not pinned with =="
        pins[match.group(1).lower().replace("_", "-")] = match.group(3)
    return pins


def test_every_dependency_the_code_imports_is_pinned_in_requirements():
    """10.3.2: each requirement line is `name==version`, and every third-party
    package the application imports is one of them."""
    pinned = _requirements("requirements.txt")
    _requirements("requirements-dev.txt")  # pinned too
    distributions = importlib.metadata.packages_distributions()
    imported = set()
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {
        module
        for module in imported
        if module not in sys.stdlib_module_names and module not in ("stagepact", "config")
    }
    assert third_party, "the walk found no imports"
    missing = {}
    for module in sorted(third_party):
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not names & set(pinned):
            missing[module] = sorted(names)
    assert missing == {}


def test_pages_load_nothing_from_another_site(client):
    """10.2: CSP `default-src 'self'` with no other host, and no template or style sheet
    names an outside script, style, font, image or frame."""
    csp = client.get("/inloggen").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["default-src"] == "'self'"
    for directive, sources in directives.items():
        for source in sources.split():
            assert source in ("'self'", "'none'", "data:"), f"{directive} allows {source}"
    outside = re.compile(
        r"<(script|link|img|iframe|source|object|embed|audio|video)\b[^>]*"
        r"\b(src|href|data)\s*=\s*[\"']?\s*(https?:)?//",
        re.IGNORECASE,
    )
    found = [str(p.relative_to(ROOT)) for p in TEMPLATES if outside.search(p.read_text("utf-8"))]
    css_outside = re.compile(r"url\(\s*[\"']?\s*(https?:)?//|@import", re.IGNORECASE)
    styles = sorted((ROOT / "static").rglob("*.css"))
    assert styles, "no style sheets found"
    found += [str(p.relative_to(ROOT)) for p in styles if css_outside.search(p.read_text("utf-8"))]
    assert found == []


# --- V13 API and V14 configuration ---------------------------------------------------------


def _monitor_token() -> str:
    _token, plain = api_tokens.create(make_user(Role.MONITOR), "dashboard")
    db.session.commit()
    return plain


TREND = "/api/v1/statistics?period=trend"


@pytest.mark.parametrize("name", ["token", "access_token", "api_key", "key", "authorization"])
def test_an_api_token_in_the_url_opens_nothing(client, name):
    """13.1.3: the token works in `Authorization: Bearer` only."""
    plain = _monitor_token()
    assert client.get(TREND, headers={"Authorization": f"Bearer {plain}"}).status_code == 200

    in_url = client.get(f"{TREND}&{name}={plain}")
    bearer_in_url = client.get(f"{TREND}&{name}=Bearer%20{plain}")

    assert in_url.status_code == 401
    assert bearer_in_url.status_code == 401


def test_no_cors_headers_even_when_another_site_asks(client, auth):
    """14.5.3: no `Access-Control-*` header, so browsers keep other sites out."""
    plain = _monitor_token()
    handler = make_user(Role.HANDLER)
    assert auth.login(handler).status_code == 302
    elsewhere = {
        "Origin": "https://elders.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    bearer = {"Authorization": f"Bearer {plain}", **elsewhere}
    responses = [
        client.get(TREND, headers=bearer),
        client.options(TREND, headers=elsewhere),
        client.get("/api/v1/openapi.json", headers=elsewhere),
        client.get("/behandelen/", headers=elsewhere),
        client.options("/behandelen/", headers=elsewhere),
        client.get("/", headers=elsewhere),
        client.get("/static/css/main.css", headers=elsewhere),
    ]
    assert responses[0].status_code == 200 and responses[3].status_code == 200
    for response in responses:
        cors = [name for name in response.headers.keys() if name.lower().startswith("access-")]
        assert cors == [], (response.request.path, cors)
