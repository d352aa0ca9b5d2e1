"""Entry point: `flask --app app ...` and `gunicorn app:app`."""

from stagepact import create_app

app = create_app()
