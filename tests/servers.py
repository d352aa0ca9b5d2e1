"""The app as production runs it, for the tests that need real servers: a scratch
PostgreSQL database, gunicorn started with deploy/gunicorn.conf.py, and an HTTP client
that speaks to it the way nginx would (deploy/nginx/stagepact.conf)."""

from __future__ import annotations

import http.client
import os
import re
import secrets
import socket
import subprocess  # nosec B404
import sys
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ScratchDatabase:
    """A database of its own on the PostgreSQL server of `server_url`, dropped afterwards."""

    def __init__(self, server_url: str, prefix: str = "stagepact_scratch"):
        self.name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
        url = sa.engine.make_url(server_url)
        self.url = url.set(database=self.name).render_as_string(hide_password=False)
        self._admin = sa.create_engine(
            url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')

    def drop(self):
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.dispose()


def run_project_command(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """`alembic ...` or `flask --app app ...` of this project, as the operator runs them."""
    return subprocess.run(  # noqa: S603 (the project's own commands)
        [str(BIN / args[0]), *args[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@dataclass
class Node:
    """One app node: gunicorn with the deploy configuration, its output in a file."""

    port: int
    log: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_node(env: dict[str, str], scratch: Path, name: str, workers: int = 2) -> Node:
    port = free_port()
    log = scratch / f"{name}.log"
    node_env = {
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "PROMETHEUS_MULTIPROC_DIR": str(scratch / f"{name}-metrics"),
    }
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 (the project's own gunicorn)
            [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "app:app"],
            cwd=ROOT,
            env=node_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    node = Node(port=port, log=log, process=process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn {name} stopped at start:\n{node.output()[-3000:]}")
        try:
            if Browser(node.url).get("/healthz").status == 200:
                return node
        except OSError:
            time.sleep(0.3)
    node.stop()
    raise RuntimeError(f"gunicorn {name} did not answer within 60 s:\n{node.output()[-3000:]}")


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def hidden(self, name: str) -> str:
        found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', self.text) or re.search(
            rf'value="([^"]*)"[^>]*name="{name}"', self.text
        )
        assert found, f"no hidden field {name}"
        return found.group(1)


@dataclass
class Browser:
    """A visitor as the app sees it behind nginx: TLS ended at the proxy, which says so in
    X-Forwarded-Proto and names the visitor's address in X-Forwarded-For. Cookies are kept
    by hand, since they are Secure and this side of the proxy speaks plain HTTP; redirects
    are not followed. `base` can change between requests: another node, the same visitor."""

    base: str
    address: str = "198.51.100.10"
    host: str = "meldpunt.test"
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes | None = None, headers=None) -> Answer:
        target = urllib.parse.urlsplit(self.base)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        sent = {
            "Host": self.host,
            "X-Forwarded-For": self.address,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": self.host,
            "X-Request-ID": uuid.uuid4().hex,
            **(headers or {}),
        }
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            answer = Answer(response.status, response.headers, response.read())
        finally:
            connection.close()
        for cookie in answer.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if value and "Max-Age=0" not in cookie and "1970" not in cookie:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return answer

    def get(self, path: str, headers=None) -> Answer:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, fields: dict[str, str], files=()) -> Answer:
        """A form POST; `files` as (field, file name, bytes) make it multipart."""
        if not files:
            body = urllib.parse.urlencode(fields).encode()
            kind = "application/x-www-form-urlencoded"
        else:
            boundary = uuid.uuid4().hex
            parts = []
            for name, value in fields.items():
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                    f"{value}\r\n".encode()
                )
            for name, filename, content in files:
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                    f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
                    + content
                    + b"\r\n"
                )
            body = b"".join(parts) + f"--{boundary}--\r\n".encode()
            kind = f"multipart/form-data; boundary={boundary}"
        return self.request("POST", path, body=body, headers={"Content-Type": kind})
