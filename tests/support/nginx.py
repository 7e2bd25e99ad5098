"""A real nginx on free loopback ports, serving HTTP and HTTPS from a temporary directory.

The certificate is made here, self-signed, with a known ``not_valid_after`` so a test can assert
the exact days to expiry. nginx runs in the foreground with its own prefix, pid file and error
log, so it needs nothing under /etc/nginx or /var/log, and it is killed when the context exits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.ports import free_port, free_ports

NGINX = "/usr/sbin/nginx"
KEYWORD = "noc-test-keyword"
"""Appears in ``/page.html`` and nowhere in the other pages."""


@dataclass(frozen=True, slots=True)
class Certificate:
    cert_file: Path
    key_file: Path
    not_valid_after: dt.datetime


def make_certificate(directory: Path, *, days: int = 30) -> Certificate:
    """A self-signed certificate for 127.0.0.1, ::1 and localhost, valid ``days`` from now."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "noc test server")])
    names = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    not_after = now + dt.timedelta(days=days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.crt", directory / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file, not_after)


@dataclass(frozen=True, slots=True)
class Nginx:
    http_port: int
    https_port: int
    http6_port: int | None
    """The plain HTTP port on ``[::1]``, or None where this host has no IPv6 loopback."""
    certificate: Certificate
    root: Path
    extra_ports: tuple[int, ...] = ()
    """More plain HTTP ports on 127.0.0.1 serving the same site: distinct origins for benches."""

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"


BIG_PAGE_BYTES = 1 << 20
"""``/big.html`` is this long, with the keyword only in its last line."""

_CONF = """\
worker_processes 1;
{user}
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type text/html;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server {{
        listen 127.0.0.1:{http_port};
        {listen6}
        listen 127.0.0.1:{https_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {prefix}/www;
        location = /redirect {{ return 302 /page.html; }}
        location = /redirect2 {{ return 301 /redirect; }}
        location = /loop {{ return 302 /loop; }}
        location = /error {{ return 500; }}
        location = /set-cookie {{
            add_header Set-Cookie "session=s3cret; Path=/";
            return 200 "cookie set\n";
        }}
        location = /echo {{
            return 200 "cookie=[$http_cookie] header=[$http_x_noc_test]\n";
        }}
    }}
}}
"""


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def _write_site(prefix: Path) -> Path:
    www = prefix / "www"
    www.mkdir()
    (prefix / "tmp").mkdir()
    (www / "page.html").write_text(f"<html><body><p>{KEYWORD}</p></body></html>\n")
    (www / "index.html").write_text("<html><body>index</body></html>\n")
    filler = b"<!-- " + b"x" * 1018 + b" -->\n"
    count = BIG_PAGE_BYTES // len(filler) - 1
    tail = f"<p>{KEYWORD}</p>\n".encode()
    body = filler * count
    body += b" " * (BIG_PAGE_BYTES - len(body) - len(tail)) + tail
    (www / "big.html").write_bytes(body)
    return www


def _wait_listening(proc: subprocess.Popen[bytes], port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def run_nginx(prefix: Path, *, cert_days: int = 30, extra_ports: int = 0) -> Iterator[Nginx]:
    """Starts nginx under ``prefix`` and stops it on exit; retries if a port was taken meanwhile."""
    if not os.access(NGINX, os.X_OK):
        raise FileNotFoundError(f"{NGINX} is not installed")
    certificate = make_certificate(prefix, days=cert_days)
    www = _write_site(prefix)
    ipv6 = has_ipv6_loopback()
    last_error = ""
    for _attempt in range(3):
        ports = free_ports(2 + extra_ports)
        port6 = free_port("::1") if ipv6 else None
        extra = tuple(ports[2:])
        listen = "".join(f"listen 127.0.0.1:{port};\n        " for port in extra)
        conf = prefix / "nginx.conf"
        conf.write_text(
            _CONF.format(
                prefix=prefix,
                # Workers drop to nobody otherwise, and pytest's tmp dirs are 0700 root.
                user="user root;" if os.geteuid() == 0 else "",
                http_port=ports[0],
                https_port=ports[1],
                listen6=listen + (f"listen [::1]:{port6};" if port6 else ""),
                cert=certificate.cert_file,
                key=certificate.key_file,
            )
        )
        argv = [NGINX, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf),
                "-g", f"daemon off; pid {prefix / 'nginx.pid'};"]  # fmt: skip
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            if _wait_listening(proc, ports[1], time.monotonic() + 10):
                yield Nginx(ports[0], ports[1], port6, certificate, www, extra)
                return
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            if proc.stderr is not None:
                last_error = proc.stderr.read().decode(errors="replace").strip()
                proc.stderr.close()
    log = prefix / "error.log"
    tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
    raise RuntimeError(f"nginx did not start: {last_error or tail}")


def nginx_missing() -> str | None:
    """Why nginx cannot run here, or None."""
    if not os.access(NGINX, os.X_OK):
        return f"nginx is not installed at {NGINX}"
    return None


@pytest.fixture(scope="module", name="nginx")
def nginx_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    """One nginx per test module; import this name into a test module to use ``nginx``."""
    reason = nginx_missing()
    if reason:
        pytest.skip(reason)
    with run_nginx(tmp_path_factory.mktemp("nginx")) as server:
        yield server
