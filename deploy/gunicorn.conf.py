"""gunicorn's configuration for one Stagepact app node: `gunicorn -c deploy/gunicorn.conf.py app:app`.

Every value can be changed through the environment (see deploy/stagepact.env); the
defaults suit a node with 2 cores behind nginx on the same machine.
"""

import os
import shutil
import tempfile
from pathlib import Path

# Metrics of all workers together (stagepact.metrics): each worker writes its counts to
# this folder, emptied at each start. Set before the app, and prometheus-client, load.
METRICS_DIR = Path(
    os.environ.setdefault(
        "PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / "stagepact-metrics")
    )
)

# nginx on this machine speaks to gunicorn over loopback; behind a load balancer on
# another machine, bind the private address and firewall it (docs/operations.md).
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
threads = 1
worker_class = "sync"
# A request may take at most this long; the app keeps its own work far below it (image
# cleaning 5 s, database statements, SMTP only in the scheduled job).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, so that no slow leak grows; jitter keeps them apart.
max_requests = 2000
max_requests_jitter = 200
# Load the app once in the master: its start-up checks (settings, schema, secrets) run
# once and stop the node with one line before any worker starts, and a worker that is
# recycled does not run them again.
preload_app = True
# Client bodies go through nginx (client_max_body_size); gunicorn's own limits on the
# request line and headers stay at their defaults.

# Logs: JSON lines on stderr for journald, gunicorn's own too (stagepact.logs). The access
# log names no client address and no query string: the student's address is personal
# data, and nothing personal is ever in a path (receipt codes and tokens never are).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
access_log_format = "%(m)s %(U)s %(s)s %(B)s %(M)sms request_id=%({x-request-id}i)s"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "filters": {"request_id": {"()": "stagepact.logs.RequestIdFilter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
    },
}
# X-Forwarded-* from nginx are read by the app itself (TRUSTED_PROXIES), not by gunicorn.
forwarded_allow_ips = "127.0.0.1"
proc_name = "stagepact"


def on_starting(server):
    """An empty metrics folder for this run: counts of an earlier run are not this one's."""
    shutil.rmtree(METRICS_DIR, ignore_errors=True)
    METRICS_DIR.mkdir(parents=True, mode=0o700)


def child_exit(server, worker):
    """A worker that ends leaves its counters, but its live gauges must go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
