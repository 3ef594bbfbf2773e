"""Where registry credentials come from, and reading auth challenges."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from distrokit.image.auth import Credentials, CredentialStore, parse_creds
from distrokit.image.registry import is_loopback, parse_challenge, parse_mirrors
from distrokit.image.transfer import choose_platform
from distrokit.log import DistrokitError


def test_parse_creds() -> None:
    assert parse_creds(["r.example:5000=u:p:w"]) == {"r.example:5000": Credentials("u", "p:w")}
    with pytest.raises(DistrokitError, match="REGISTRY=USER:PASSWORD"):
        parse_creds(["r.example"])


def test_docker_config_auths_and_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISTROKIT_REGISTRY_USER", raising=False)
    helper = tmp_path / "bin" / "docker-credential-fake"
    helper.parent.mkdir()
    helper.write_text('#!/bin/sh\nread server\n'
                      'if [ "$server" = "helped.example" ]; then\n'
                      '  echo \'{"Username":"hu","Secret":"hs"}\'\n'
                      'else echo "credentials not found in native keychain"; exit 1; fi\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:/usr/bin:/bin")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "auths": {"https://index.docker.io/v1/": {"auth": base64.b64encode(b"du:dp").decode()},
                  "plain.example": {"auth": base64.b64encode(b"pu:pp").decode()}},
        "credHelpers": {"helped.example": "fake"},
        "credsStore": "fake",
    }))
    store = CredentialStore({"cli.example": Credentials("cu", "cp")}, config)
    assert store.get("docker.io") == Credentials("du", "dp")
    assert store.get("plain.example") == Credentials("pu", "pp")
    assert store.get("helped.example") == Credentials("hu", "hs")
    assert store.get("cli.example") == Credentials("cu", "cp")
    assert store.get("unknown.example") is None  # the store says "not found"
    monkeypatch.setenv("DISTROKIT_REGISTRY_USER", "eu")
    monkeypatch.setenv("DISTROKIT_REGISTRY_PASSWORD", "ep")
    assert store.get("plain.example") == Credentials("eu", "ep")
    assert store.get("cli.example") == Credentials("cu", "cp")


def test_parse_challenge() -> None:
    assert parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull"') == {
        "scheme": "bearer", "realm": "https://auth.example/token",
        "service": "registry.example"}
    assert parse_challenge('Basic realm="x"') == {"scheme": "basic", "realm": "x"}
    assert parse_challenge("Negotiate") is None


def test_loopback_and_mirrors() -> None:
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost") and is_loopback("[::1]:5")
    assert not is_loopback("registry.example:5000") and not is_loopback("10.0.0.1")
    assert parse_mirrors(["docker.io=http://127.0.0.1:1/"]) == {
        "docker.io": ["http://127.0.0.1:1"]}
    with pytest.raises(DistrokitError):
        parse_mirrors(["docker.io=127.0.0.1"])


def test_choose_platform_variants() -> None:
    index = {"manifests": [
        {"digest": "v6", "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
        {"digest": "v7", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        {"digest": "win", "platform": {"os": "windows", "architecture": "amd64"}},
    ]}
    assert choose_platform(index, "arm/v6", "x")["digest"] == "v6"
    assert choose_platform(index, "arm", "x")["digest"] == "v7"
    with pytest.raises(DistrokitError, match="it has: linux/arm/v6, linux/arm/v7"):
        choose_platform(index, "amd64", "x")
