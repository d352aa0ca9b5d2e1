"""Commands under `flask --app app stagepact ...`."""

import click
from flask.cli import AppGroup

stagepact_cli = AppGroup("stagepact", help="Beheer van het meldpunt.")
