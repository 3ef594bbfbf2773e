"""A client for one OCI distribution registry (the ``/v2/`` HTTP API).

It speaks anonymous, basic and bearer-token auth (the ``WWW-Authenticate``
challenge sends us to a token endpoint with a scope per repository), retries
transient failures with backoff, resumes interrupted blob downloads with
``Range`` and verifies every manifest and blob against its digest while the
bytes stream in: nothing unverified reaches the cache.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from distrokit.image import oci
from distrokit.image.auth import Credentials, CredentialStore
from distrokit.image.cache import BlobWriter
from distrokit.log import DistrokitError, debug

MANIFEST_TYPES = (oci.MANIFEST, oci.DOCKER_MANIFEST, oci.INDEX, oci.DOCKER_LIST)
MAX_MANIFEST = 4 << 20
READ_CHUNK = 256 << 10


@dataclass
class RegistryOptions:
    """How to reach registries: credentials, mirrors, TLS, retries."""

    creds: CredentialStore = field(default_factory=CredentialStore)
    mirrors: dict[str, list[str]] = field(default_factory=dict)  # registry -> base URLs
    cert_file: Path | None = None
    insecure: set[str] = field(default_factory=set)  # plain HTTP / unverified TLS allowed
    retries: int = 4
    backoff: float = 0.5
    chunk_size: int = 32 << 20  # blobs larger than this are uploaded in PATCH chunks
    timeout: float = 60.0


def parse_mirrors(values: list[str]) -> dict[str, list[str]]:
    mirrors: dict[str, list[str]] = {}
    for value in values:
        registry, eq, url = value.partition("=")
        if not eq or not registry or not re.match(r"^https?://[^/]+", url):
            raise DistrokitError(f"--mirror {value}: expected REGISTRY=http(s)://HOST[:PORT]")
        mirrors.setdefault(registry, []).append(url.rstrip("/"))
    return mirrors


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class _Retry(Exception):
    """A failure worth trying again (connection reset, 5xx, 429)."""


@dataclass
class Blob:
    digest: str
    size: int


class Registry:
    """One registry endpoint (the registry itself or a mirror of it)."""

    def __init__(self, name: str, options: RegistryOptions, url: str | None = None) -> None:
        self.name = name  # as in image references: host[:port]
        self.options = options
        self._url = url
        self._lock = threading.Lock()
        self._scheme_known = url is not None
        self._basic: Credentials | None = None
        self._challenge: dict[str, str] | None = None
        self._tokens: dict[tuple[str, ...], str] = {}
        host = (url or f"//{name}").split("//", 1)[1].split("/", 1)[0]
        self.host = host
        insecure = host in options.insecure or name in options.insecure
        # One TLS context for httpx and for blob bodies (see _open_body): the
        # system's CAs plus --cert-file; unverified only for --insecure-registry.
        if insecure:
            self._ssl = ssl._create_unverified_context()
        else:
            self._ssl = ssl.create_default_context()
            if options.cert_file is not None:
                try:
                    self._ssl.load_verify_locations(cafile=str(options.cert_file))
                except (OSError, ssl.SSLError) as exc:
                    raise DistrokitError(
                        f"cannot use --cert-file {options.cert_file}: {exc}") from None
        self._plain_ok = insecure or is_loopback(host)
        self.client = httpx.Client(
            verify=self._ssl, follow_redirects=True, timeout=options.timeout,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
            headers={"User-Agent": "distrokit"},
        )
        self.creds = options.creds.get(name)

    def close(self) -> None:
        self.client.close()

    # -- endpoint and auth ------------------------------------------------------

    @property
    def base(self) -> str:
        with self._lock:
            if not self._scheme_known:
                self._url = self._probe_scheme()
                self._scheme_known = True
            assert self._url is not None
            return self._url

    def _probe_scheme(self) -> str:
        """HTTPS; plain HTTP only for a loopback registry or one marked insecure."""
        try:
            self.client.get(f"https://{self.host}/v2/", timeout=10)
            return f"https://{self.host}"
        except httpx.TransportError as exc:
            if not self._plain_ok:
                raise DistrokitError(
                    f"cannot reach registry {self.name}: {_why(exc)}",
                    hint="plain HTTP is used only for loopback registries or with "
                         "--insecure-registry",
                ) from None
        debug(f"registry {self.name}: no HTTPS, using plain HTTP")
        return f"http://{self.host}"

    def ping(self) -> None:
        response = self._send("GET", "/v2/", scopes=())
        if response.status_code != 200:
            raise DistrokitError(
                f"registry {self.name}: /v2/ answered {response.status_code}",
                hint="is this an OCI distribution registry?")

    def _auth_headers(self, scopes: tuple[str, ...]) -> dict[str, str]:
        with self._lock:
            challenge = self._challenge
        if challenge is None:
            return {}
        if challenge["scheme"] == "basic":
            return {"Authorization": httpx.BasicAuth(*self._need_creds())._auth_header}
        token = self._token(challenge, scopes)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _need_creds(self) -> tuple[str, str]:
        if self.creds is None:
            raise DistrokitError(
                f"registry {self.name} asks for a user name and password",
                hint=f"--registry-creds {self.name}=USER:PASSWORD, DISTROKIT_REGISTRY_USER/"
                     "_PASSWORD or 'docker login'")
        return self.creds.username, self.creds.password

    def _token(self, challenge: dict[str, str], scopes: tuple[str, ...]) -> str:
        key = tuple(sorted(scopes))
        with self._lock:
            if key in self._tokens:
                return self._tokens[key]
        realm = challenge.get("realm")
        if not realm:
            raise DistrokitError(f"registry {self.name}: bearer challenge without a realm")
        params: list[tuple[str, str | int | float | bool | None]] = [("scope", s) for s in key]
        if challenge.get("service"):
            params.append(("service", challenge["service"]))
        auth = httpx.BasicAuth(*self.creds_tuple()) if self.creds else None
        try:
            response = self.client.get(realm, params=params, auth=auth)
        except httpx.TransportError as exc:
            raise DistrokitError(
                f"registry {self.name}: cannot reach token server {realm}: {_why(exc)}") from None
        if response.status_code in (401, 403):
            raise DistrokitError(
                f"registry {self.name}: the token server refused "
                f"{'the credentials' if self.creds else 'anonymous access'}"
                f" for {', '.join(key) or 'the registry'}",
                hint=f"--registry-creds {self.name}=USER:PASSWORD or 'docker login'")
        if response.status_code != 200:
            raise DistrokitError(
                f"registry {self.name}: token server {realm} answered {response.status_code}")
        try:
            body = response.json()
            token = str(body.get("token") or body.get("access_token") or "")
        except (ValueError, AttributeError):
            token = ""
        if not token:
            raise DistrokitError(f"registry {self.name}: token server {realm} sent no token")
        with self._lock:
            self._tokens[key] = token
        return token

    def creds_tuple(self) -> tuple[str, str]:
        assert self.creds is not None
        return self.creds.username, self.creds.password

    def _learn(self, header: str) -> bool:
        """Take in a 401's challenge; True when trying again may help."""
        challenge = parse_challenge(header)
        if challenge is None:
            return False
        with self._lock:
            old = self._challenge
            self._challenge = challenge
            if challenge["scheme"] == "bearer":
                self._tokens.clear()
        if challenge["scheme"] == "basic":
            self._need_creds()
        debug(f"registry {self.name}: {challenge['scheme']} auth"
              + (" (again)" if old == challenge else ""))
        return True

    # -- requests ---------------------------------------------------------------

    def _send(self, method: str, path: str, *, scopes: tuple[str, ...],
              stream: bool = False, **kwargs: Any) -> httpx.Response:
        """One request with auth (answering a challenge once) and retries."""
        url = path if path.startswith(("http://", "https://")) else self.base + path
        attempt = 0
        while True:
            try:
                response = self._once(method, url, scopes, stream, kwargs)
                if response.status_code == 401 and self._learn(
                        response.headers.get("WWW-Authenticate", "")):
                    response.close()
                    response = self._once(method, url, scopes, stream, kwargs)
                if response.status_code in (429, 500, 502, 503, 504):
                    response.close()
                    raise _Retry(f"{method} {path} answered {response.status_code}")
                if response.status_code in (401, 403):
                    response.close()
                    raise DistrokitError(
                        f"registry {self.name}: access to {path} denied "
                        f"({response.status_code})",
                        hint=f"check the credentials for {self.name} (--registry-creds, "
                             "DISTROKIT_REGISTRY_USER/_PASSWORD, docker login)")
                return response
            except (httpx.TransportError, _Retry) as exc:
                attempt += 1
                if attempt > self.options.retries:
                    why = _why(exc) if isinstance(exc, httpx.TransportError) else str(exc)
                    raise DistrokitError(f"registry {self.name}: {why}") from None
                delay = self.options.backoff * 2 ** (attempt - 1)
                debug(f"registry {self.name}: {exc}; retrying in {delay:.1f}s")
                time.sleep(delay)

    def _once(self, method: str, url: str, scopes: tuple[str, ...], stream: bool,
              kwargs: dict[str, Any]) -> httpx.Response:
        headers = {**kwargs.get("headers", {}), **self._auth_headers(scopes)}
        rest = {k: v for k, v in kwargs.items() if k != "headers"}
        if callable(rest.get("content")):
            rest["content"] = rest["content"]()  # a fresh body for every attempt
        request = self.client.build_request(method, url, headers=headers, **rest)
        return self.client.send(request, stream=stream)

    # -- pulling ----------------------------------------------------------------

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of a manifest or index, verified."""
        response = self._send(
            "GET", f"/v2/{repo}/manifests/{reference}", scopes=(_scope(repo, "pull"),),
            headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if response.status_code == 404:
            raise DistrokitError(f"{self.name}/{repo}:{reference} not found in the registry"
                                 if not reference.startswith("sha256:") else
                                 f"{self.name}/{repo}@{reference} not found in the registry")
        if response.status_code != 200:
            raise DistrokitError(f"registry {self.name}: manifest {repo}:{reference} answered "
                                 f"{response.status_code}")
        data = response.content
        if len(data) > MAX_MANIFEST:
            raise DistrokitError(f"registry {self.name}: manifest {repo}:{reference} is too big")
        digest = oci.sha256_digest(data)
        expected = reference if reference.startswith("sha256:") else \
            response.headers.get("Docker-Content-Digest", digest)
        if expected.startswith("sha256:") and expected != digest:
            raise DistrokitError(
                f"registry {self.name}: manifest {repo}:{reference} does not match its digest "
                f"{expected} (got {digest})")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return data, media_type, digest

    def fetch_blob(self, repo: str, blob: Blob, writer: BlobWriter,
                   progress: Callable[[int], None] = lambda n: None) -> None:
        """Stream a blob into writer, resuming with Range after an interruption.

        writer hashes every byte; the caller commits it under the expected digest,
        so a wrong byte anywhere is caught before the blob becomes visible.
        """
        scopes = (_scope(repo, "pull"),)
        url = f"{self.base}/v2/{repo}/blobs/{blob.digest}"
        view = memoryview(bytearray(READ_CHUNK))  # reused: no allocation per read
        attempt = 0
        while True:
            start = writer.size
            try:
                response = self._open_body(url, scopes, start)
                try:
                    if response.status == 404:
                        raise DistrokitError(
                            f"registry {self.name}: blob {blob.digest} of {repo} not found")
                    if response.status in (429, 500, 502, 503, 504):
                        raise _Retry(f"blob {blob.digest} answered {response.status}")
                    if start and response.status == 200:
                        writer.restart()  # the server ignored Range: start over
                    elif response.status not in (200, 206):
                        raise DistrokitError(f"registry {self.name}: blob {blob.digest} "
                                             f"answered {response.status}")
                    while count := response.readinto(view):
                        writer.write(view[:count])
                        progress(count)
                        if writer.size > blob.size:
                            raise DistrokitError(
                                f"registry {self.name}: blob {blob.digest} is larger than "
                                f"its {blob.size} bytes")
                finally:
                    response.close()
                if writer.size == blob.size:
                    return
                raise _Retry("the blob ended early")
            except (OSError, http.client.HTTPException, _Retry) as exc:
                attempt += 1
                if attempt > self.options.retries:
                    raise DistrokitError(
                        f"registry {self.name}: blob {blob.digest}: {_why(exc)}") from None
                delay = self.options.backoff * 2 ** (attempt - 1)
                debug(f"blob {blob.digest[:19]}: {_why(exc)} at byte {writer.size}, resuming")
                time.sleep(delay)

    def _open_body(self, url: str, scopes: tuple[str, ...],
                   start: int) -> http.client.HTTPResponse:
        """GET a blob with the standard library's HTTP client, following redirects.

        Blob bodies are read here rather than through httpx: http.client reads
        them about twice as fast on a 2-core machine (bench/pull.py), which is
        what lets a pull keep up with skopeo. Auth comes from the same state as
        every other request; a redirect to another host (blob storage) drops
        the Authorization header, as httpx and Docker do.
        """
        headers = {"User-Agent": "distrokit", **self._auth_headers(scopes)}
        if start:
            headers["Range"] = f"bytes={start}-"
        host = urllib.parse.urlsplit(url).netloc
        learned = False
        for _ in range(10):
            parts = urllib.parse.urlsplit(url)
            conn: http.client.HTTPConnection = (
                http.client.HTTPSConnection(parts.netloc, timeout=self.options.timeout,
                                            context=self._ssl)
                if parts.scheme == "https" else
                http.client.HTTPConnection(parts.netloc, timeout=self.options.timeout))
            conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                         headers=headers)
            response = conn.getresponse()
            location = response.getheader("Location")
            if response.status in (301, 302, 303, 307, 308) and location:
                response.close()
                url = urllib.parse.urljoin(url, location)
                if urllib.parse.urlsplit(url).netloc != host:
                    headers.pop("Authorization", None)
                continue
            if response.status == 401 and not learned and self._learn(
                    response.getheader("WWW-Authenticate", "")):
                response.close()
                learned = True
                headers.update(self._auth_headers(scopes))
                continue
            if response.status in (401, 403):
                response.close()
                raise DistrokitError(
                    f"registry {self.name}: access to blob {url.rsplit('/', 1)[-1]} denied "
                    f"({response.status})", hint=f"check the credentials for {self.name}")
            return response
        raise DistrokitError(f"registry {self.name}: too many redirects for {url}")

    # -- pushing ----------------------------------------------------------------

    def has_blob(self, repo: str, digest: str) -> bool:
        response = self._send("HEAD", f"/v2/{repo}/blobs/{digest}",
                              scopes=(_scope(repo, "pull", "push"),))
        return response.status_code == 200

    def mount_blob(self, repo: str, digest: str, source: str) -> str | None:
        """Try a cross-repository mount; None when it worked, else an upload URL."""
        response = self._send(
            "POST", f"/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": source},
            scopes=(_scope(repo, "pull", "push"), _scope(source, "pull")))
        if response.status_code == 201:
            return None
        return self._upload_location(response, repo)

    def start_upload(self, repo: str) -> str:
        response = self._send("POST", f"/v2/{repo}/blobs/uploads/",
                              scopes=(_scope(repo, "pull", "push"),))
        return self._upload_location(response, repo)

    def _upload_location(self, response: httpx.Response, repo: str) -> str:
        if response.status_code != 202 or "Location" not in response.headers:
            raise DistrokitError(f"registry {self.name}: cannot start an upload to {repo} "
                                 f"({response.status_code})")
        return str(response.url.join(response.headers["Location"]))

    def upload_blob(self, repo: str, blob: Blob, opener: Callable[[], IO[bytes]],
                    location: str | None = None,
                    progress: Callable[[int], None] = lambda n: None) -> None:
        """Upload in one PUT (small blobs) or in PATCH chunks, then close with PUT ?digest=."""
        scopes = (_scope(repo, "pull", "push"),)
        location = location or self.start_upload(repo)
        with opener() as f:
            if blob.size <= self.options.chunk_size:
                data = f.read()
                response = self._send(
                    "PUT", _with_digest(location, blob.digest), scopes=scopes, content=data,
                    headers={"Content-Type": "application/octet-stream"})
                progress(len(data))
            else:
                offset = 0
                while offset < blob.size:
                    chunk = f.read(self.options.chunk_size)
                    if not chunk:
                        raise DistrokitError(f"blob {blob.digest} is shorter than its size")
                    response = self._send(
                        "PATCH", location, scopes=scopes, content=chunk,
                        headers={"Content-Type": "application/octet-stream",
                                 "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
                    if response.status_code != 202:
                        raise DistrokitError(f"registry {self.name}: chunk of {blob.digest} "
                                             f"refused ({response.status_code})")
                    location = str(response.url.join(response.headers.get("Location", location)))
                    offset += len(chunk)
                    progress(len(chunk))
                response = self._send("PUT", _with_digest(location, blob.digest), scopes=scopes)
        if response.status_code != 201:
            raise DistrokitError(f"registry {self.name}: upload of {blob.digest} to {repo} "
                                 f"refused ({response.status_code}): {_error_text(response)}")

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> None:
        response = self._send(
            "PUT", f"/v2/{repo}/manifests/{reference}", scopes=(_scope(repo, "pull", "push"),),
            content=data, headers={"Content-Type": media_type})
        if response.status_code not in (200, 201):
            raise DistrokitError(f"registry {self.name}: manifest {repo}:{reference} refused "
                                 f"({response.status_code}): {_error_text(response)}")
        sent = response.headers.get("Docker-Content-Digest")
        if sent and sent != oci.sha256_digest(data):
            raise DistrokitError(f"registry {self.name}: stored manifest {repo}:{reference} "
                                 f"as {sent}, not {oci.sha256_digest(data)}")


def _scope(repo: str, *actions: str) -> str:
    return f"repository:{repo}:{','.join(actions)}"


def _with_digest(location: str, digest: str) -> str:
    return str(httpx.URL(location).copy_merge_params({"digest": digest}))


def _error_text(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or "no detail"
    except (ValueError, AttributeError):
        return response.text[:200] or "no detail"


def _why(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


_PARAM = re.compile(r'([a-zA-Z_]+)="([^"]*)"|([a-zA-Z_]+)=([^,\s]+)')


def parse_challenge(header: str) -> dict[str, str] | None:
    """``Bearer realm="...",service="...",scope="..."`` -> {"scheme": "bearer", ...}."""
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "basic"):
        return None
    values = {"scheme": scheme}
    for match in _PARAM.finditer(rest):
        key = (match.group(1) or match.group(3)).lower()
        values[key] = match.group(2) if match.group(1) else match.group(4)
    values.pop("scope", None)  # we ask for the scopes each request needs
    values.pop("error", None)
    return values

