"""Registry credentials: where a user name and password for a registry come from.

In order: ``--registry-creds REGISTRY=USER:PASS``, the environment
(``DISTROKIT_REGISTRY_USER``/``DISTROKIT_REGISTRY_PASSWORD``, for every
registry), then Docker's ``config.json`` (``credHelpers``, ``auths``,
``credsStore``) as ``docker login`` leaves it. No credentials means anonymous.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distrokit.log import DistrokitError, debug

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io",
                   "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def parse_creds(values: Sequence[str]) -> dict[str, Credentials]:
    """``REGISTRY=USER:PASS`` options -> registry -> credentials."""
    result = {}
    for value in values:
        registry, eq, userpass = value.partition("=")
        user, colon, password = userpass.partition(":")
        if not eq or not colon or not registry or not user:
            raise DistrokitError(
                f"--registry-creds {value.split(':')[0]}...: expected REGISTRY=USER:PASSWORD")
        result[_key(registry)] = Credentials(user, password)
    return result


def docker_config_path() -> Path:
    directory = os.environ.get("DOCKER_CONFIG")
    return Path(directory) / "config.json" if directory else Path.home() / ".docker/config.json"


def _key(registry: str) -> str:
    """A registry as config.json names it: no scheme, no path; Docker Hub is one name."""
    host = registry.split("://", 1)[-1].split("/", 1)[0]
    return "docker.io" if host in DOCKER_HUB_KEYS else host


class CredentialStore:
    def __init__(self, explicit: Mapping[str, Credentials] | None = None,
                 config_path: Path | None = None) -> None:
        self.explicit = dict(explicit or {})
        self.config_path = config_path or docker_config_path()
        self._config: dict[str, Any] | None = None

    def get(self, registry: str) -> Credentials | None:
        key = _key(registry)
        if key in self.explicit:
            return self.explicit[key]
        user = os.environ.get("DISTROKIT_REGISTRY_USER")
        if user:
            return Credentials(user, os.environ.get("DISTROKIT_REGISTRY_PASSWORD", ""))
        config = self._docker_config()
        helper = config.get("credHelpers", {}).get(key)
        if helper is None and key == "docker.io":
            helper = next((config.get("credHelpers", {}).get(k) for k in DOCKER_HUB_KEYS
                           if k in config.get("credHelpers", {})), None)
        if helper:
            return _from_helper(helper, key)
        for name, entry in config.get("auths", {}).items():
            if _key(name) == key and isinstance(entry, dict):
                creds = _from_auths_entry(entry, name)
                if creds:
                    return creds
        store = config.get("credsStore")
        if store:
            return _from_helper(store, key)
        return None

    def _docker_config(self) -> dict[str, Any]:
        if self._config is None:
            try:
                value = json.loads(self.config_path.read_text())
            except FileNotFoundError:
                value = {}
            except (OSError, ValueError) as exc:
                raise DistrokitError(f"cannot read {self.config_path}: {exc}") from None
            self._config = value if isinstance(value, dict) else {}
        return self._config


def _from_auths_entry(entry: dict[str, Any], name: str) -> Credentials | None:
    if entry.get("username"):
        return Credentials(str(entry["username"]), str(entry.get("password", "")))
    encoded = entry.get("auth")
    if not encoded:
        return None
    try:
        user, colon, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, colon, password = "", "", ""
    if not colon:
        raise DistrokitError(f"docker config: the auth of {name} is not base64 of USER:PASSWORD")
    return Credentials(user, password)


def _from_helper(helper: str, registry: str) -> Credentials | None:
    """Ask ``docker-credential-HELPER get`` (the docker credential helper protocol)."""
    tool = shutil.which(f"docker-credential-{helper}")
    if tool is None:
        raise DistrokitError(
            f"docker config names the credential helper {helper!r} for {registry}, "
            f"but docker-credential-{helper} is not installed")
    debug(f"+ docker-credential-{helper} get ({registry})")
    # Docker Hub is stored under its old v1 URL by docker login.
    server = DOCKER_HUB_KEYS[0] if registry == "docker.io" else registry
    result = subprocess.run([tool, "get"], input=server.encode(), capture_output=True,
                            check=False, timeout=60)
    if result.returncode != 0:
        text = (result.stdout + result.stderr).decode(errors="replace").strip()
        if "not found" in text.lower():
            return None
        raise DistrokitError(f"docker-credential-{helper} get failed for {registry}: {text}")
    try:
        value = json.loads(result.stdout)
        return Credentials(str(value["Username"]), str(value["Secret"]))
    except (ValueError, KeyError, TypeError):
        raise DistrokitError(
            f"docker-credential-{helper} returned no Username/Secret for {registry}") from None
