"""deploy/ stays true to the app: the environment file names every setting, the systemd
units pass `systemd-analyze verify` and start every scheduled job, and nginx passes what
the app reads and logs no address. (tests/production/ runs gunicorn with the
configuration itself.)"""

from __future__ import annotations

import re
import runpy
import shutil
import subprocess  # nosec B404
from pathlib import Path

import pytest

from config import Config
from stagepact import jobs

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def _read_variables(path: Path) -> set[str]:
    source = path.read_text()
    return set(
        re.findall(
            r"""(?:environ\.get|environ\.setdefault|_env_\w+)\(\s*["']([A-Z_]+)["']""", source
        )
    )


def _env_file_variables() -> set[str]:
    return set(
        re.findall(r"^#?([A-Z][A-Z_]+)=", (DEPLOY / "stagepact.env").read_text(), re.MULTILINE)
    )


def test_the_environment_file_names_every_setting_the_app_and_gunicorn_read():
    read = _read_variables(ROOT / "config.py") | _read_variables(DEPLOY / "gunicorn.conf.py")
    read -= {"PROMETHEUS_MULTIPROC_DIR"}  # set by the unit file and gunicorn.conf.py
    assert "MAIL_DEFAULT_SENDER" in read and "GUNICORN_WORKERS" in read  # the walk works
    assert read - _env_file_variables() == set()


def test_the_gunicorn_configuration_preloads_the_app_and_logs_json_without_addresses(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # it sets a default
    settings = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert settings["preload_app"] is True  # start-up checks once, before any worker
    assert settings["timeout"] == 30
    assert "%(h)s" not in settings["access_log_format"]  # no client address
    assert "%(U)s" in settings["access_log_format"] and "%(r)s" not in settings["access_log_format"]
    formatter = settings["logconfig_dict"]["formatters"]["json"]["()"]
    assert formatter == "pythonjsonlogger.json.JsonFormatter"


def test_every_scheduled_job_has_a_timer_and_every_timer_a_job():
    timers = {
        path.name.removeprefix("stagepact-").removesuffix(".timer"): path.read_text()
        for path in (DEPLOY / "systemd").glob("stagepact-*.timer")
    }
    assert set(timers) == set(jobs.JOBS)
    for name, text in timers.items():
        assert f"Unit=stagepact-job@{name}.service" in text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is missing")
def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path):
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace("/opt/stagepact", str(ROOT))
        text = text.replace("/etc/stagepact/stagepact.env", str(DEPLOY / "stagepact.env"))
        (tmp_path / unit.name).write_text(text)
    units = sorted(str(path) for path in tmp_path.iterdir())
    result = subprocess.run(  # noqa: S603
        ["systemd-analyze", "verify", "--man=no", *units],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_nginx_sets_the_address_itself_allows_whole_requests_and_logs_no_address():
    site = (DEPLOY / "nginx" / "stagepact.conf").read_text()
    proxy = (DEPLOY / "nginx" / "stagepact-proxy.conf").read_text()
    body = re.search(r"client_max_body_size (\d+)m;", site)
    assert int(body.group(1)) * 1024 * 1024 >= Config.MAX_CONTENT_LENGTH
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in proxy  # never the client's
    assert "proxy_set_header X-Request-ID $request_id;" in proxy
    log_format = re.search(r"log_format stagepact (.*?);", site, re.DOTALL).group(1)
    assert "$remote_addr" not in log_format and "$request_id" in log_format
    assert "$args" not in log_format and "$request_uri" not in log_format
    assert re.search(r"location = /metrics \{[^}]*deny all;", site)


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_the_nginx_site_passes_nginx_t(tmp_path):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meldpunt.example.nl")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "fullchain.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    site = (DEPLOY / "nginx" / "stagepact.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/meldpunt.example.nl", str(tmp_path))
    site = site.replace(
        "/etc/nginx/stagepact-proxy.conf", str(DEPLOY / "nginx" / "stagepact-proxy.conf")
    )
    site = site.replace("/var/log/nginx", str(tmp_path))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n access_log off;\n include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run(  # noqa: S603
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
