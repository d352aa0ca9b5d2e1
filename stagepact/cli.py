"""Commands under `flask --app app stagepact ...`, for the operator and for cron.

A command reads its options, calls the domain (`admin` and `accounts` for
institutions and accounts, `jobs` for what cron runs) and prints the result. Where
it changes data, an audit event with actor "system" is written in the same
transaction. What a command prints is Dutch, through gettext; a refusal (a
`DomainError` of the domain's rules) prints one clear sentence and exits with code 1
without changing anything.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale
from flask_babel import gettext as _

from . import (
    accounts,
    admin,
    api_tokens,
    audit,
    companies,
    database,
    demo,
    jobs,
    key_rotation,
    notify,
    preflight,
    progress,
    retention,
)
from .crypto import MIN_PASSWORD_LENGTH, hash_password
from .errors import DomainError
from .extensions import db
from .i18n import STAFF_LANGUAGES
from .models import AccountToken
from .vocab import ROLE_LABELS, Role

stagepact_cli = AppGroup(
    "stagepact",
    help="Beheer van het meldpunt.",
    # A job may run for minutes: commands get no statement timeout (see `database`).
    callback=database.for_commands,
)


class CommandError(click.ClickException):
    """A refusal: the (already translated) message on stderr, exit code 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(self.format_message(), err=True, file=file)


@contextlib.contextmanager
def terminal_progress(stream=None):
    """A `Progress` that keeps one line on stderr up to date while the command runs, when
    stderr is a terminal; silent in cron, a pipe or a log file."""
    stream = stream or sys.stderr
    if not stream.isatty():
        yield progress.silent
        return
    shown = {"any": False}

    def report(label: str, done: int, total: int | None = None) -> None:
        text = f"{label}: {done:,}" + (f" / {total:,}" if total else "")
        stream.write("\r" + text.ljust(60))
        stream.flush()
        shown["any"] = True

    try:
        yield report
    finally:
        if shown["any"]:
            stream.write("\n")
            stream.flush()


def json_option(f):
    """`--json`: one JSON object on stdout instead of the sentences, for scripts."""
    return click.option("--json", "as_json", is_flag=True, help="Een samenvatting in JSON.")(f)


def print_json(summary: dict) -> None:
    click.echo(json.dumps(summary, ensure_ascii=False, default=str))


def operator_command(f):
    """Run a command in the default interface language, and leave no half-done work.

    There is no request to choose a language from, so messages use the
    configured default. Whatever a failing command left in the session is
    rolled back, so that nothing of it is committed later. A scheduled job another
    run holds says so and exits 0.
    """

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
            try:
                return f(*args, **kwargs)
            except jobs.JobBusyError as busy:
                # An overlapping run (cron, another node) is no failure: the other does it.
                db.session.rollback()
                click.echo(str(busy.message))
            except BaseException:
                db.session.rollback()
                raise

    return wrapper


def command(name: str, help: str):
    """Register `flask stagepact <name>`, run as an `operator_command`."""

    def register(f):
        return stagepact_cli.command(name, help=help)(operator_command(f))

    return register


# The option a refusal's input comes from, so that the message says what to correct.
OPTIONS = {
    "name": "--name",
    "brin": "--brin",
    "city": "--city",
    "slug": "--slug",
    "adv_id": "--adv-id",
    "institution_id": "--institution BRIN",
    "email": "--email",
}


@contextlib.contextmanager
def refusals():
    """Turn a domain rule's refusal into the command's: its message and the option."""
    try:
        yield
    except DomainError as error:
        option = OPTIONS.get(error.field or "")
        message = str(error.message)
        raise CommandError(f"{message} ({option})" if option else message) from None


# --- create-institution -----------------------------------------------------------


@command("create-institution", help="Maak een instelling (mbo-school) aan, met een eigen meldpunt.")
@click.option("--name", required=True, help="Naam van de instelling.")
@click.option("--brin", required=True, help="BRIN-code: 4 letters of cijfers, uniek.")
@click.option("--city", required=True, help="Plaats.")
@click.option("--slug", help="Adres van het meldpunt (/meldpunt/<slug>); standaard uit de naam.")
@click.option("--region", default="", help="Regio.")
@click.option("--adv-id", type=int, help="Id van de antidiscriminatievoorziening (ADV).")
@click.option("--intro-text", default="", help="Eigen tekst op de meldpuntpagina.")
@click.option(
    "--ack-working-days",
    default=5,
    show_default=True,
    type=click.IntRange(1, 30),
    help="Binnen hoeveel werkdagen de ontvangst bevestigd wordt.",
)
@click.option(
    "--feedback-months",
    default=3,
    show_default=True,
    type=click.IntRange(1, 12),
    help="Binnen hoeveel maanden na de bevestiging de student terugkoppeling krijgt.",
)
def create_institution_command(**options) -> None:
    """Create an institution and print its id and the path of its meldpunt."""
    with refusals():
        institution = admin.create_institution(**options)
    db.session.commit()
    click.echo(
        _(
            "Instelling %(name)s aangemaakt met id %(id)d.",
            name=institution.name,
            id=institution.id,
        )
    )
    click.echo(_("Meldpunt: %(path)s", path=admin.MELDPUNT_PATH.format(slug=institution.slug)))


# --- create-user ------------------------------------------------------------------


def _ask_password() -> str:
    """Ask twice, hidden, until both entries are the same."""
    while True:
        password = click.prompt(
            _("Wachtwoord (minstens %(min)d tekens)", min=MIN_PASSWORD_LENGTH), hide_input=True
        )
        if click.prompt(_("Herhaal het wachtwoord"), hide_input=True) == password:
            return password
        click.echo(_("De wachtwoorden zijn niet gelijk. Probeer het opnieuw."), err=True)


@command("create-user", help="Maak een account voor een medewerker aan.")
@click.option("--email", required=True, help="E-mailadres, ook de inlognaam.")
@click.option("--name", required=True, help="Naam.")
@click.option(
    "--role",
    required=True,
    type=click.Choice([role.value for role in Role]),
    help="Rol van het account.",
)
@click.option(
    "--institution",
    "brin",
    help="BRIN-code van de instelling (alleen voor handler en "
    "institution_admin, en voor hen verplicht).",
)
@click.option("--password", help="Wachtwoord; zonder deze optie wordt erom gevraagd.")
@click.option(
    "--invite",
    is_flag=True,
    help="Geen wachtwoord: mail een uitnodiging waarmee de medewerker er zelf een kiest.",
)
@click.option(
    "--language",
    type=click.Choice(STAFF_LANGUAGES),
    help="Taal van de pagina's en mails (nl of en); zonder deze optie kiest de browser "
    "bij de eerste keer inloggen.",
)
def create_user_command(email, name, role, brin, password, invite, language) -> None:
    """Create a staff account: with an invitation by mail, or a password (asked, hidden)."""
    role = Role(role)
    if invite and password is not None:
        raise CommandError(_("Kies --invite of --password, niet allebei."))
    with refusals():  # all of it before the password is asked for
        institution = admin.institution_by_brin(brin) if brin else None
        email, name = accounts.check_new_account(email, name, role, institution)
    if invite:
        user, token = accounts.invite(
            email=email,
            name=name,
            role=role,
            institution=institution,
            actor="system",
            language=language,
        )
        notify.password_link(user, token, AccountToken.INVITE)
        db.session.commit()
        click.echo(
            _(
                "Account %(email)s aangemaakt; de uitnodiging gaat mee met de volgende send-mail.",
                email=user.email,
            )
        )
        return
    password = password if password is not None else _ask_password()
    with refusals():
        accounts.check_password(password, email, name)
        user = admin.add_user(
            email=email,
            name=name,
            role=role,
            institution=institution,
            password_hash=hash_password(password),
            language=language,
        )
    db.session.commit()
    click.echo(_("Account %(email)s aangemaakt met id %(id)d.", email=user.email, id=user.id))


# --- import-companies -------------------------------------------------------------


@command(
    "import-companies", help="Laad of werk het register van leerbedrijven bij uit een CSV-bestand."
)
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@json_option
def import_companies_command(csv_file: str, as_json: bool) -> None:
    """Load the register; bad rows are listed with their line number and skipped.

    Columns (first line, comma or semicolon separated, UTF-8): kvk, naam,
    sbb_nummer, adres, plaats, sector. kvk and naam are required; a company is
    matched on its KvK number, so a re-import updates instead of duplicating.
    """
    try:
        with (
            open(csv_file, encoding="utf-8-sig", newline="") as stream,
            terminal_progress() as shown,
        ):
            result = companies.import_register(stream, shown)
    except companies.UnreadableFileError as error:
        raise CommandError(_("Niets geladen: %(reason)s", reason=error.message)) from None
    db.session.commit()
    if as_json:
        print_json(
            {
                "inserted": result.inserted,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "rejected": [{"line": line, "reason": str(why)} for line, why in result.rejected],
            }
        )
        return
    for line, reason in result.rejected:
        click.echo(_("regel %(line)d overgeslagen: %(reason)s", line=line, reason=reason), err=True)
    click.echo(
        _(
            "%(inserted)d leerbedrijven toegevoegd, %(updated)d bijgewerkt, "
            "%(unchanged)d ongewijzigd, %(rejected)d regels overgeslagen.",
            inserted=result.inserted,
            updated=result.updated,
            unchanged=result.unchanged,
            rejected=len(result.rejected),
        )
    )


# --- send-mail --------------------------------------------------------------------


@command("send-mail", help="Verstuur de mail die klaarstaat (voor cron).")
@click.option(
    "--limit",
    default=200,
    show_default=True,
    type=click.IntRange(min=1),
    help="Hoeveel mails hoogstens in deze ronde.",
)
def send_mail_command(limit: int) -> None:
    """Queue deadline reminders, then hand due mail to the mail server.

    A mail that failed stays in the outbox and is tried again later, but the command
    exits 1, so that cron's mail or the monitoring sees it; `status` shows it too.
    """
    result = jobs.send_mail(limit)
    if result.reminded:
        click.echo(_("%(count)d herinnering(en) over termijnen klaargezet.", count=result.reminded))
    message = _(
        "%(sent)d mail(s) verstuurd, %(failed)d mislukt (die worden later opnieuw geprobeerd).",
        sent=result.sent,
        failed=result.failed,
    )
    if result.failed:
        raise CommandError(message)
    click.echo(message)


@command(
    "create-api-token", help="Maak een API-sleutel voor een monitor; hij wordt één keer getoond."
)
@click.argument("email")
@click.option("--name", default="CLI", show_default=True, help="Waarvoor de sleutel is.")
def create_api_token_command(email: str, name: str) -> None:
    user = accounts.by_email(email)
    if user is None:
        raise CommandError(_("Er is geen account met dit e-mailadres."))
    try:
        _token, plain = api_tokens.create(user, name, actor="system")
    except api_tokens.TokenError as error:
        raise CommandError(str(error.message)) from None
    db.session.commit()
    click.echo(plain)


@command(
    "purge-uploads", help="Verwijder bestanden van formulieren die nooit zijn verstuurd (cron)."
)
def purge_uploads_command() -> None:
    """Remove pending uploads older than PENDING_UPLOAD_HOURS, with their files."""
    removed = jobs.purge_uploads()
    click.echo(_("%(count)d achtergelaten bestand(en) verwijderd.", count=removed))


@command(
    "publish-statistics",
    help="Bereken de statistieken opnieuw uit de meldingen (cron, dagelijks).",
)
def publish_statistics_command() -> None:
    """Rebuild the monthly rollup every statistics page, export and API answer reads."""
    rows = jobs.publish_statistics()
    click.echo(_("Statistieken berekend: %(rows)d regels.", rows=rows))


# --- retention --------------------------------------------------------------------


@command(
    "retention",
    help="Wis de persoonsgegevens van meldingen die langer dan de bewaartermijn van hun "
    "instelling zijn afgesloten, en oude verstuurde mail (cron, dagelijks).",
)
@click.option("--dry-run", is_flag=True, help="Laat alleen zien wat gewist zou worden.")
@json_option
def retention_command(dry_run: bool, as_json: bool) -> None:
    """Erase what each institution's retention period says; each case in its own transaction.

    Categorical fields and dates stay, so that statistics do not change.
    """
    due = retention.due_for_erasure()
    mails = retention.old_sent_mail_count()
    cases = sum(len(item.cases) for item in due)
    summary = {
        "dry_run": dry_run,
        "due": [
            {"brin": item.institution.brin, "cases": [c.number for c in item.cases]} for item in due
        ],
    }
    if not as_json:
        for item in due:
            institution = item.institution
            click.echo(
                _(
                    "%(name)s (%(brin)s), bewaartermijn %(months)d maanden: %(count)d "
                    "melding(en): %(cases)s",
                    name=institution.name,
                    brin=institution.brin,
                    months=institution.retention_months,
                    count=len(item.cases),
                    cases=", ".join(f"{c.number} (id {c.id})" for c in item.cases),
                )
            )
    if dry_run:
        if as_json:
            print_json({**summary, "cases": cases, "mails": mails})
            return
        click.echo(
            _(
                "Proefdraai, er is niets gewist: %(cases)d melding(en) en %(mails)d verstuurde "
                "mail(s) van meer dan %(days)d dagen geleden zouden gewist worden.",
                cases=cases,
                mails=mails,
                days=retention.SENT_MAIL_DAYS,
            )
        )
        return
    with terminal_progress() as shown:
        result = jobs.apply_retention(due, shown)
    if as_json:
        print_json({**summary, "cases": result.erased, "mails": result.mails})
        return
    click.echo(
        _(
            "%(cases)d melding(en) gewist, %(mails)d verstuurde mail(s) verwijderd.",
            cases=result.erased,
            mails=result.mails,
        )
    )


# --- rotate-key -------------------------------------------------------------------


@command(
    "rotate-key",
    help="Versleutel alle persoonsgegevens en bestanden opnieuw met de eerste sleutel van "
    "ENCRYPTION_KEYS; de andere sleutels moeten dan nog in de lijst staan.",
)
@click.option(
    "--batch-size",
    default=key_rotation.BATCH_SIZE,
    show_default=True,
    type=click.IntRange(min=1),
    help="Hoeveel rijen of bestanden per transactie.",
)
@json_option
def rotate_key_command(batch_size: int, as_json: bool) -> None:
    """Re-encrypt every encrypted column and every file; print what was done.

    Exits 1 when something could not be read with any configured key: then an
    old key must not be removed yet.
    """
    with terminal_progress() as shown:
        result = jobs.rotate_key(batch_size, shown)
    if as_json:
        print_json(
            {
                "fields": result.fields,
                "fields_current": result.fields_current,
                "fields_changed": result.fields_changed,
                "files": result.files,
                "files_current": result.files_current,
                "files_missing": result.files_missing,
                "unreadable": result.unreadable,
            }
        )
        if result.unreadable:
            raise SystemExit(1)
        return
    for table, count in result.fields.items():
        click.echo(_("%(table)s: %(count)d veld(en) opnieuw versleuteld", table=table, count=count))
    click.echo(
        _(
            "%(fields)d veld(en) opnieuw versleuteld, %(current)d waren al met de eerste "
            "sleutel versleuteld, %(changed)d intussen door de applicatie herschreven.",
            fields=result.fields_rotated,
            current=result.fields_current,
            changed=result.fields_changed,
        )
    )
    click.echo(
        _(
            "%(files)d bestand(en) opnieuw versleuteld, %(current)d waren al met de eerste "
            "sleutel versleuteld, %(missing)d ontbraken.",
            files=result.files,
            current=result.files_current,
            missing=result.files_missing,
        )
    )
    if result.unreadable:
        raise CommandError(
            _(
                "%(count)d waarde(n) of bestand(en) konden met geen van de sleutels gelezen "
                "worden: %(which)s. Haal nog geen oude sleutel weg.",
                count=len(result.unreadable),
                which=", ".join(result.unreadable[:20]),
            )
        )


# --- audit-verify -----------------------------------------------------------------


def _chain_problem_text(code: str) -> str:
    """The verifier's finding in the interface language."""
    return {
        "unlinked": _(
            "sluit niet aan op de gebeurtenis ervoor (verwijderd of van volgorde veranderd)"
        ),
        "changed": _("de inhoud past niet bij de hash (gewijzigd)"),
        "truncated": _("ontbreekt: er zijn gebeurtenissen aan het eind van de keten verwijderd"),
    }[code]


@command("audit-verify", help="Controleer dat de audittrail niet is gewijzigd.")
def audit_verify_command() -> None:
    """Walk the hash chain; exit 1 naming the first event that does not fit."""
    checked, problem = audit.verify_chain()
    if problem is not None:
        raise CommandError(
            _(
                "Audittrail NIET intact: gebeurtenis %(id)d %(reason)s. "
                "%(checked)d gebeurtenissen ervoor zijn in orde.",
                id=problem.event_id,
                reason=_chain_problem_text(problem.code),
                checked=checked,
            )
        )
    click.echo(_("%(count)d gebeurtenissen, keten intact.", count=checked))


@command(
    "sbb-dates",
    help="Laat de data van SBB ingaan: afgelopen schorsingen en verlopen verbeterafspraken "
    "(cron, dagelijks).",
)
def sbb_dates_command() -> None:
    """End suspensions past their last day; remind SBB of improvement agreements due."""
    result = jobs.sbb_dates()
    click.echo(
        _(
            "%(ended)d schorsing(en) afgelopen, %(due)d herinnering(en) over verbeterafspraken.",
            ended=result.suspensions_ended,
            due=result.agreements_due,
        )
    )


# --- status -----------------------------------------------------------------------


@command(
    "status",
    help="Laat zien wanneer elke geplande taak het laatst draaide; exit 1 als er iets "
    "aandacht nodig heeft.",
)
def status_command() -> None:
    """Each scheduled job's last run and outcome; exit 1 when one failed or is late."""
    for state in jobs.states():
        run = state.run
        when = run.started_at.strftime("%Y-%m-%d %H:%M UTC") if run and run.started_at else "-"
        verdict = str(state.problem) if state.problem is not None else _("in orde")
        click.echo(f"{state.job.name:<20} {when:<22} {verdict}")
    late = jobs.attention()
    if late:
        raise CommandError(
            _("%(count)d geplande taak/taken hebben aandacht nodig.", count=len(late))
        )


# --- check ------------------------------------------------------------------------


@command(
    "check",
    help="Controleer instellingen, databaseschema, pepper en sleutels zonder te starten; "
    "exit 1 bij een probleem.",
)
@click.option("--json", "as_json", is_flag=True, help="Een samenvatting in JSON.")
def check_command(as_json: bool) -> None:
    """What the app checks at start, said out loud.

    A problem already stops the app while it loads (`preflight.at_start`), with the
    same line; this runs the checks again, so that it also holds for an app that was
    started without the database part."""
    problems = preflight.settings_problems(current_app.config)
    state = preflight.database_state() if not problems else None
    if state is not None:
        problems = state.problems
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": not problems,
                    "environment": current_app.config["ENV_NAME"],
                    "schema": state.revision if state else None,
                    "head": preflight.head_revision(),
                    "keys": len(current_app.config["ENCRYPTION_KEYS"]),
                    "problems": [str(problem) for problem in problems],
                }
            )
        )
        if problems:
            raise SystemExit(1)
        return
    if problems:
        raise CommandError(str(preflight.Refused(problems).code))
    click.echo(
        _("Instellingen: in orde (%(environment)s).", environment=current_app.config["ENV_NAME"])
    )
    click.echo(_("Database: bereikbaar, schema op %(revision)s.", revision=state.revision))
    click.echo(
        _(
            "Geheimen: pepper en sleutels passen bij de database (%(count)d sleutel(s); "
            "de eerste versleutelt).",
            count=len(current_app.config["ENCRYPTION_KEYS"]),
        )
    )


# --- demo -------------------------------------------------------------------------


@command("demo", help="Laad demogegevens: instellingen, accounts en meldingen.")
@click.option(
    "--if-empty", is_flag=True, help="Doe niets als er al een instelling is (voor `make run`)."
)
@json_option
def demo_command(if_empty: bool, as_json: bool) -> None:
    """Load fictional institutions, staff and about fifty cases (never in production)."""
    if current_app.config["ENV_NAME"] == "production":
        raise CommandError(_("Demogegevens horen niet in productie; er is niets geladen."))
    if if_empty and demo.has_institutions():
        if as_json:
            print_json({"loaded": False})
            return
        click.echo(_("Er zijn al instellingen; de demogegevens zijn niet opnieuw geladen."))
        logins = demo.existing_logins()
        if logins:
            click.echo(_("De demo-accounts hebben het wachtwoord %(pw)s.", pw=demo.DEMO_PASSWORD))
            _print_logins(logins)
            click.echo(_("Open %(url)s en log in.", url=demo.DEMO_URL))
        return
    clash = demo.existing_demo_institution()
    if clash:
        raise CommandError(
            _("De demo-instelling %(name)s bestaat al; er is niets geladen.", name=clash)
        )
    with terminal_progress() as shown:
        summary = demo.load(shown)
    jobs.publish_statistics()
    if as_json:
        print_json(
            {
                "loaded": True,
                "institutions": summary.institutions,
                "companies": summary.companies,
                "cases": summary.cases,
                "password": summary.password,
                "logins": [
                    {"email": login.email, "role": str(login.role)} for login in summary.logins
                ],
            }
        )
        return
    _print_demo_summary(summary)


def _print_demo_summary(summary: demo.DemoSummary) -> None:
    click.echo(
        _(
            "Demogegevens geladen: %(institutions)d instellingen, %(users)d accounts, "
            "%(companies)d leerbedrijven, %(cases)d meldingen.",
            institutions=summary.institutions,
            users=len(summary.logins),
            companies=summary.companies,
            cases=summary.cases,
        )
    )
    click.echo("")
    click.echo(_("Alle demo-accounts hebben het wachtwoord: %(pw)s", pw=summary.password))
    if not current_app.config.get("TWO_FACTOR_ENFORCED"):
        click.echo(
            _(
                "Tweestapsverificatie staat uit in deze ontwikkelomgeving; "
                "TWO_FACTOR_ENFORCED=1 zet hem aan, zoals in productie."
            )
        )
    click.echo("")
    _print_logins(summary.logins)
    click.echo(_("Open %(url)s en log in.", url=summary.url))


def _print_logins(logins: list[demo.Login]) -> None:
    rows = [(_("E-mailadres"), _("Rol"), _("Instelling"))]
    rows += [
        (login.email, str(ROLE_LABELS[login.role]), login.institution or "-") for login in logins
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())
    click.echo("")
