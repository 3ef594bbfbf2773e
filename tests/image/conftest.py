"""A real registry for the tests: Debian's docker-registry on 127.0.0.1, started
once per session for each auth scheme (none, htpasswd basic, bearer tokens from
a small token server here), plus helpers that make images in a cache."""

from __future__ import annotations

import base64
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from registry_helpers import HTPASSWD, PASSWORD, REGISTRY, USER, RegistryServer, free_port


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    key: Any
    cert_der: bytes
    service = "distrokit-test"

    def do_GET(self) -> None:
        import jwt  # pyjwt

        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.end_headers()
            return
        access = []
        for scope in query.get("scope", []):
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        token = jwt.encode(
            {"iss": "distrokit-test-issuer", "sub": USER, "aud": self.service,
             "exp": now + 300, "nbf": now - 10, "iat": now, "jti": str(now) + self.path,
             "access": access},
            self.key, algorithm="RS256",
            headers={"x5c": [base64.b64encode(self.cert_der).decode()]})
        body = json.dumps({"token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _token_server(tmp: Path) -> tuple[str, Path, http.server.HTTPServer]:
    pytest.importorskip("jwt", reason="pyjwt is needed for the bearer-token tests")
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "distrokit test tokens")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    bundle = tmp / "token.pem"
    bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    handler = type("Handler", (_TokenHandler,), {
        "key": key, "cert_der": cert.public_bytes(serialization.Encoding.DER)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/token", bundle, server


def _start(tmp: Path, auth: str) -> tuple[RegistryServer, subprocess.Popen[bytes], Any]:
    port = free_port()
    storage = tmp / "storage"
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)},
                    "maintenance": {"uploadpurging": {"enabled": False}}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "distrokit-test"},
    }
    extra = None
    if auth == "basic":
        (tmp / "htpasswd").write_text(HTPASSWD)
        config["auth"] = {"htpasswd": {"realm": "test", "path": str(tmp / "htpasswd")}}
    elif auth == "token":
        realm, bundle, extra = _token_server(tmp)
        config["auth"] = {"token": {"realm": realm, "service": _TokenHandler.service,
                                    "issuer": "distrokit-test-issuer",
                                    "rootcertbundle": str(bundle)}}
    (tmp / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    log = (tmp / "registry.log").open("wb")
    proc = subprocess.Popen([REGISTRY, "serve", str(tmp / "config.yml")],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code in (200, 401):
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log_text = (tmp / "registry.log").read_text()
            raise RuntimeError(f"docker-registry did not start: {log_text}")
        time.sleep(0.05)
    return RegistryServer(f"127.0.0.1:{port}", storage, auth), proc, extra


@pytest.fixture(scope="session")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RegistryServer]]:
    """Lazily started registries by auth scheme: 'none', 'basic', 'token'."""
    if not os.path.exists(REGISTRY):
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    started: dict[str, RegistryServer] = {}
    procs: list[tuple[subprocess.Popen[bytes], Any]] = []

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, auth: str) -> RegistryServer:
            server, proc, extra = _start(tmp_path_factory.mktemp(f"registry-{auth}"), auth)
            procs.append((proc, extra))
            self[auth] = server
            return server

    lazy = Lazy(started)
    yield lazy
    for proc, extra in procs:
        proc.terminate()
        proc.wait(10)
        if extra is not None:
            extra.shutdown()


@pytest.fixture(scope="session")
def skopeo() -> str:
    path = shutil.which("skopeo")
    if path is None:
        pytest.skip("skopeo is not installed (apt-get install skopeo)")
    return path


