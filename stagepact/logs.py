"""Logs as JSON lines, each request's with its request id, and nothing personal in them.

Every request gets an id: the `X-Request-ID` nginx sets (deploy/nginx/stagepact.conf), or
a new one. It is sent back in the response's `X-Request-ID` and carried by every log line
written while the request runs, so that an operator can follow one request across nginx,
gunicorn and the app without anything that identifies a person.

One line per request names the route (its rule, such as `/behandelen/zaak/<id:case_id>`,
never the path or query that was asked), the method, the status and the time taken. No
line holds a client address, a form field, a receipt code, a token or a message: the app
logs events and counts, never what someone typed (tests/test_logs.py walks a student's
report and the handler's answer and searches every line).
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"

log = logging.getLogger("stagepact.request")


class RequestIdFilter(logging.Filter):
    """Puts the running request's id on every record (empty outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "") if has_request_context() else ""
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        FIELDS,
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def json_handler(stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestIdFilter())
    return handler


def configure(app: Flask) -> None:
    """JSON lines on stderr (LOG_FORMAT=json, production's default), unless the server
    (gunicorn's logconfig_dict in deploy/gunicorn.conf.py) has set logging up already."""
    root = logging.getLogger()
    if app.config.get("LOG_FORMAT") == "json" and not root.handlers:
        root.addHandler(json_handler())
        root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    log.setLevel(app.config.get("LOG_LEVEL", "INFO"))

    @app.before_request
    def _request_id():
        offered = request.headers.get("X-Request-ID", "")
        g.request_id = offered if REQUEST_ID.fullmatch(offered) else secrets.token_hex(16)
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        started = g.get("request_started")
        if started is None:
            return response
        response.headers["X-Request-ID"] = g.request_id
        rule = request.url_rule.rule if request.url_rule is not None else None
        log.info(
            "request",
            extra={
                "method": request.method,
                "route": rule,
                "endpoint": request.endpoint,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return response
