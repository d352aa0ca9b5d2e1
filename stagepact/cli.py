"""Commands under `flask --app app stagepact ...`."""

from flask.cli import AppGroup

stagepact_cli = AppGroup("stagepact", help="Beheer van het meldpunt.")
