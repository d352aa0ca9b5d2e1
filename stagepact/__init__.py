"""The Stagepact meldpunt: report, follow up and count internship discrimination."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Flask, make_response, render_template, request
from flask_babel import format_date, format_datetime, get_locale
from flask_wtf.csrf import CSRFError
from werkzeug.routing import IntegerConverter

from config import Config, SettingError, config_from_env

from . import attachments, database, logs, metrics, preflight, web_security
from .extensions import babel, csrf, db, limiter, login_manager, mail
from .i18n import offered_languages, select_locale

ROOT = Path(__file__).resolve().parent.parent


class RowIdConverter(IntegerConverter):
    """A row id in a URL: a positive integer that fits the database's id column.

    A larger number is a 404 like any unknown id, instead of an overflow error.
    """

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=2**31 - 1)


class Stagepact(Flask):
    """Flask, but a view that meets an unavailable database runs again when that is safe
    (`database.retrying`)."""

    def dispatch_request(self):
        return database.retrying(super().dispatch_request)


def create_app(config_class: type[Config] | None = None, test_config: dict | None = None) -> Flask:
    app = Stagepact(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    try:
        config_class = config_class or config_from_env()
    except SettingError as error:
        raise preflight.Refused([preflight.setting_problem(error.name, error.expected)]) from None
    app.config.from_object(config_class)
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = (
            f"sqlite:///{Path(app.instance_path) / 'stagepact.sqlite'}"
        )

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(ROOT / "translations"))
    if not app.config.get("ATTACHMENT_DIR"):
        app.config["ATTACHMENT_DIR"] = str(Path(app.instance_path) / "attachments")

    app.url_map.converters["id"] = RowIdConverter
    logs.configure(app)  # first: every request gets its id and its log line, refused ones too
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = database.engine_options(app.config)
    db.init_app(app)
    database.init_app(app)
    attachments.init_app(app)
    mail.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    limiter.init_app(app)
    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    from . import (  # noqa: F401 (models registers the tables)
        api,
        auth,
        desk,
        health,
        language,
        models,
        organisation,
        platform,
        sbb,
        stats,
        student,
    )
    from .cli import stagepact_cli

    app.register_blueprint(student.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(desk.bp)
    app.register_blueprint(platform.bp)
    app.register_blueprint(sbb.bp)
    app.register_blueprint(stats.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(organisation.bp)
    app.register_blueprint(language.bp)
    app.register_blueprint(health.bp)
    app.before_request(auth.require_login)
    app.cli.add_command(stagepact_cli)

    @app.context_processor
    def template_globals():
        from . import vocab
        from .i18n import NAMES, RIGHT_TO_LEFT

        locale = str(get_locale())
        return {
            "current_locale": locale,
            "text_direction": "rtl" if locale in RIGHT_TO_LEFT else "ltr",
            "language_names": NAMES,
            "vocab": vocab,
        }

    app.jinja_env.globals["offered_languages"] = offered_languages
    app.jinja_env.filters["format_date"] = format_date
    app.jinja_env.filters["format_datetime"] = format_datetime
    _register_errors(app)
    web_security.init_app(app)
    metrics.init_app(app)
    preflight.at_start(app)
    return app


def _register_errors(app: Flask) -> None:
    @app.errorhandler(404)
    def not_found(error):
        return render_template("errors/404.html"), 404

    @app.errorhandler(405)
    def method_not_allowed(error):
        from .api import bp as api_bp
        from .api.routes import method_refused

        if request.path.startswith(f"{api_bp.url_prefix}/"):
            return method_refused(request.path)
        response = make_response(render_template("errors/400.html"), 405)
        # HTTP requires a 405 to say which methods the resource does answer.
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods or ()))
        return response

    @app.errorhandler(400)
    def bad_request(error):
        return render_template("errors/400.html"), 400

    @app.errorhandler(429)
    def too_many(error):
        return render_template("errors/429.html"), 429

    @app.errorhandler(413)
    def too_large(error):
        return render_template("errors/413.html"), 413

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template("errors/400.html", csrf=True), 400

    @app.errorhandler(500)
    def server_error(error):
        try:
            db.session.rollback()
        except sa.exc.DBAPIError:
            db.session.remove()
        return render_template("errors/500.html"), 500

    @app.errorhandler(sa.exc.DBAPIError)
    @app.errorhandler(sa.exc.TimeoutError)
    def database_away(error):
        """The database is still away after the retries: a calm 503 that keeps what was typed."""
        if not database.unavailable(error):
            raise error
        return database.calm_answer()
