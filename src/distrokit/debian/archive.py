"""The Debian archive client: signed indexes, a local index cache and verified
downloads. Everything it trusts comes from an InRelease file that gpgv verified
against a keyring; every other file is checked against the SHA256 listed there.

Cache layout, in the ``cache_dir`` given (e.g. ``<cache>/debian``)::

    lists/<mirror>_dists_<suite>_InRelease   signed, as fetched; its mtime is its age
    indexes/<sha256>.xz|.gz                  Packages files, named by their hash
    indexes/<sha256>.idx                     the same, parsed (marshal; rebuilt if unreadable)
    resolved/<key>.json                      resolve() results, keyed by InRelease hashes + request
    debs/<sha256>.deb                        downloaded packages, named by their hash

Files are only ever written whole (temporary file + rename), after verification,
so a file that exists is a good one.
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip
import hashlib
import json
import lzma
import marshal
import os
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from distrokit.debian.index import Package, Release, Stanza, parse_packages, parse_release
from distrokit.debian.resolve import Pool, resolve
from distrokit.log import DistrokitError, debug, step, warn
from distrokit.proc import require, run

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_KEYRING", "Archive", "Package", "Repo", "default_repos", "verify_inrelease"]

DEFAULT_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
DEFAULT_SUITE = "bookworm"

# Bump when the resolver's choices change, so cached results are not reused.
_RESOLVER_VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}")

# Mirrors found unreachable in this process: every package of a build has its
# own Archive, and each would otherwise try again and warn again.
_UNREACHABLE: set[str] = set()


@dataclass(frozen=True)
class Repo:
    """One suite of one mirror."""

    url: str
    suite: str
    components: tuple[str, ...] = ("main",)

    def __str__(self) -> str:
        return f"{self.suite} {' '.join(self.components)}"

    @property
    def dists(self) -> str:
        return f"{self.url.rstrip('/')}/dists/{self.suite}"


def default_repos(suite: str = DEFAULT_SUITE) -> list[Repo]:
    """A release and its security updates; the mirrors can be overridden with
    DISTROKIT_DEBIAN_MIRROR and DISTROKIT_DEBIAN_SECURITY_MIRROR."""
    mirror = os.environ.get("DISTROKIT_DEBIAN_MIRROR") or DEFAULT_MIRROR
    security = os.environ.get("DISTROKIT_DEBIAN_SECURITY_MIRROR") or DEFAULT_SECURITY_MIRROR
    return [Repo(mirror, suite), Repo(security, f"{suite}-security")]


class _Unreachable(DistrokitError):
    """The mirror could not be reached at all (as opposed to a bad answer)."""


class _NotFound(DistrokitError):
    pass


def verify_inrelease(data: bytes, keyring: Path, suite: str) -> str:
    """The signed text of an InRelease file, as gpgv saw it, or an error."""
    if not keyring.is_file():
        raise DistrokitError(f"keyring {keyring} not found",
                             hint="apt-get install debian-archive-keyring")
    gpgv = require("gpgv")
    # --output gives exactly the text the signature covers: never parse around it.
    result = run([gpgv, "--keyring", keyring, "--output", "-", "-"],
                 input=data, capture=True, check=False)
    if result.returncode != 0:
        lines = [ln.removeprefix("gpgv: ").strip()
                 for ln in result.stderr.decode(errors="replace").splitlines()]
        bad = [ln for ln in lines if re.search(r"BAD|Can't check|no valid|not found", ln)]
        why = (bad or lines or ["no output"])[0]
        raise DistrokitError(f"InRelease of {suite}: bad signature (gpgv: {why})")
    return result.stdout.decode("utf-8", errors="replace")


def _check_release(release: Release, repo: Repo) -> None:
    """Refuse a validly signed file for another suite, or a replayed stale one."""
    names = {release.fields.get("Suite"), release.fields.get("Codename")}
    if repo.suite not in names:
        found = release.fields.get("Codename") or release.fields.get("Suite") or "?"
        raise DistrokitError(f"InRelease of {repo.suite} at {repo.url} is for suite {found}")
    until = release.fields.get("Valid-Until")
    if until:
        try:
            expiry = email.utils.parsedate_to_datetime(until)
        except (TypeError, ValueError):
            raise DistrokitError(f"InRelease of {repo.suite}: bad Valid-Until {until!r}") from None
        if expiry < datetime.now(UTC):
            raise DistrokitError(f"InRelease of {repo.suite} expired on {until}",
                                 hint="the mirror is out of date, or the clock is wrong")


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[IO[bytes]]:
    """Write ``path`` whole or not at all: a temporary file renamed on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide a shared cache from other users
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class Archive:
    """Packages of some repositories for one architecture, cached in ``cache_dir``
    (the Debian part of the cache, e.g. ``<cache>/debian``)."""

    def __init__(self, repos: Sequence[Repo], arch: str, cache_dir: Path,
                 keyring: Path = DEFAULT_KEYRING, ttl: float = 86400,
                 refresh: bool = False) -> None:
        if not repos:
            raise DistrokitError("no Debian repositories configured")
        self.repos = tuple(repos)
        self.arch = arch
        self.dir = cache_dir
        self.keyring = keyring
        self.ttl = ttl
        self.refresh = refresh
        self._client: httpx.Client | None = None
        self._fresh: set[Repo] = set()  # InRelease already checked in this process
        self._pool: Pool | None = None

    @property
    def where(self) -> str:
        return f"{', '.join(str(r) for r in self.repos)} ({self.arch})"

    # --- public ------------------------------------------------------------------------

    def resolve(self, names: Sequence[str], ignore: Sequence[str] = ()) -> list[Package]:
        """The full dependency closure of ``names``, sorted by package name; packages
        named in ``ignore`` count as installed (left out, dependencies not followed)."""
        inreleases = [self._inrelease(repo) for repo in self.repos]
        # Warm builds hit this cache and skip reading the indexes entirely.
        key = hashlib.sha256(json.dumps([
            _RESOLVER_VERSION, self.arch, list(names), sorted(ignore),
            [[r.url, r.suite, list(r.components), hashlib.sha256(p.read_bytes()).hexdigest()]
             for r, p in zip(self.repos, inreleases, strict=True)],
        ]).encode()).hexdigest()
        cached = self.dir / "resolved" / f"{key}.json"
        try:
            return [Package(**p) for p in json.loads(cached.read_bytes())]
        except (OSError, ValueError, TypeError):
            pass
        with step(f"resolving {' '.join(names)}"):
            packages = resolve(self._packages(inreleases), names, ignore)
        with _atomic(cached) as f:
            f.write(json.dumps([asdict(p) for p in packages], indent=0).encode())
        return packages

    def fetch(self, pkg: Package) -> Path:
        """The verified .deb of ``pkg`` in the cache (downloaded only once)."""
        if not _HEX64.fullmatch(pkg.sha256):
            raise DistrokitError(f"Debian package {pkg.name}: no SHA256 in the index")
        dest = self.dir / "debs" / f"{pkg.sha256}.deb"
        if not dest.exists():
            with step(f"downloading {pkg.name} {pkg.version}"):
                self._download(pkg.url, dest, pkg.sha256, pkg.size)
        return dest

    # --- indexes -----------------------------------------------------------------------

    def _list_path(self, repo: Repo) -> Path:
        base = re.sub(r"^[a-z]+://", "", repo.dists).strip("/")
        return self.dir / "lists" / (re.sub(r"[^A-Za-z0-9.+-]+", "_", base) + "_InRelease")

    def _inrelease(self, repo: Repo) -> Path:
        """The cached, verified InRelease of ``repo``, fetched again when older than the TTL."""
        path = self._list_path(repo)
        if repo in self._fresh:
            return path
        with contextlib.suppress(FileNotFoundError):
            age = time.time() - path.stat().st_mtime
            if not self.refresh and age < self.ttl:
                self._fresh.add(repo)
                return path
        url = f"{repo.dists}/InRelease"
        if not self.refresh and path.exists() and repo.dists in _UNREACHABLE:
            self._fresh.add(repo)  # already found offline in this run: said once
            return path
        try:
            with step(f"fetching {url}"):
                data = self._get(url)
        except _Unreachable as e:
            if self.refresh or not path.exists():
                raise
            # Offline builds keep working on the last verified index.
            warn(f"{e.message}; using the cached index of {repo.suite}")
            _UNREACHABLE.add(repo.dists)
            self._fresh.add(repo)
            return path
        except _NotFound:
            raise DistrokitError(f"no InRelease for suite {repo.suite} at {url}",
                                 hint="check the mirror URL and suite name") from None
        release = parse_release(verify_inrelease(data, self.keyring, repo.suite))
        _check_release(release, repo)
        old = path.read_bytes() if path.exists() else b""
        if old == data:
            os.utime(path)  # unchanged: only its age is reset
        else:
            with _atomic(path) as f:
                f.write(data)
            self._prune(parse_release(old.decode("utf-8", "replace")), release)
        self._fresh.add(repo)
        return path

    def _prune(self, old: Release, new: Release) -> None:
        """Drop the Packages files that only the replaced InRelease listed."""
        keep = {sha for sha, _ in new.sha256.values()}
        for sha, _ in old.sha256.values():
            if sha not in keep and _HEX64.fullmatch(sha):
                for stale in (self.dir / "indexes").glob(f"{sha}.*"):
                    stale.unlink(missing_ok=True)

    def _packages(self, inreleases: Sequence[Path]) -> Pool:
        if self._pool is None:
            pool = Pool(self.arch, self.where)
            for repo, path in zip(self.repos, inreleases, strict=True):
                # Re-verified on every use (about 10 ms): only gpgv's output is trusted.
                release = parse_release(verify_inrelease(path.read_bytes(), self.keyring,
                                                         repo.suite))
                for component in repo.components:
                    pool.add(self._index(repo, release, component), repo.url)
            self._pool = pool
        return self._pool

    def _index(self, repo: Repo, release: Release, component: str) -> list[Stanza]:
        """The parsed Packages file of one component, from the cache or the mirror."""
        base = f"{component}/binary-{self.arch}"
        listed = [(f"{base}/Packages{ext}", ext) for ext in (".xz", ".gz")
                  if f"{base}/Packages{ext}" in release.sha256]
        if not listed:
            raise DistrokitError(f"Debian suite {repo.suite} has no {base}/Packages "
                                 f"(wrong component or architecture?)")
        for name, ext in listed:
            sha, size = release.sha256[name]
            parsed = self.dir / "indexes" / f"{sha}.idx"
            try:
                # Plain tuples: marshal loads them ~10x faster than parsing again.
                return [Stanza._make(t) for t in marshal.loads(parsed.read_bytes())]
            except (OSError, ValueError, EOFError, TypeError):
                pass
            raw = self.dir / "indexes" / f"{sha}{ext}"
            if not raw.exists():
                urls = [f"{repo.dists}/{name}"]
                if release.fields.get("Acquire-By-Hash") == "yes":
                    # By hash, the file cannot change under us while the mirror syncs.
                    urls.insert(0, f"{repo.dists}/{base}/by-hash/SHA256/{sha}")
                try:
                    self._download_first(urls, raw, sha, size)
                except _NotFound:
                    continue
            with step(f"parsing {repo.suite} {name}"):
                opener = lzma.decompress if ext == ".xz" else gzip.decompress
                stanzas = parse_packages(opener(raw.read_bytes()).decode("utf-8", "replace"))
            with _atomic(parsed) as f:
                marshal.dump([tuple(s) for s in stanzas], f)
            return stanzas
        raise DistrokitError(f"{repo.dists}/{base}/Packages: not found on the mirror")

    # --- HTTP --------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx  # imported here: warm runs never touch the network

            self._client = httpx.Client(
                follow_redirects=True,
                timeout=httpx.Timeout(60.0, connect=15.0),
                headers={"User-Agent": "distrokit"},
            )
        return self._client

    @contextlib.contextmanager
    def _response(self, url: str) -> Iterator[httpx.Response]:
        import httpx

        try:
            with self._http().stream("GET", url) as response:
                if response.status_code == 404:
                    raise _NotFound(f"{url}: not found (HTTP 404)")
                if response.status_code >= 400:
                    raise DistrokitError(f"{url}: HTTP {response.status_code}")
                yield response
        except httpx.TransportError as e:
            reason = str(e) or type(e).__name__
            raise _Unreachable(f"cannot reach {url}: {reason}") from None

    def _get(self, url: str) -> bytes:
        with self._response(url) as response:
            return response.read()

    def _download_first(self, urls: Sequence[str], dest: Path, sha256: str, size: int) -> None:
        for url in urls[:-1]:
            try:
                self._download(url, dest, sha256, size)
                return
            except _NotFound:
                continue
        self._download(urls[-1], dest, sha256, size)

    def _download(self, url: str, dest: Path, sha256: str, size: int) -> None:
        """Stream ``url`` into ``dest``, checking size and SHA256 before it appears."""
        with self._response(url) as response, _atomic(dest) as f:
            digest = hashlib.sha256()
            got = 0
            for chunk in response.iter_bytes(1 << 20):
                digest.update(chunk)
                got += len(chunk)
                if got > size > 0:
                    break  # longer than the index says: no point reading on
                f.write(chunk)
            if digest.hexdigest() != sha256 or (size > 0 and got != size):
                raise DistrokitError(f"{url}: SHA256 mismatch (expected {sha256}, "
                                     f"got {digest.hexdigest()} for {got} bytes)")
        debug(f"downloaded {url} ({got} bytes)")
