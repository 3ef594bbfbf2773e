from pathlib import Path

import pytest

from distrokit.log import DistrokitError
from distrokit.pkg.recipe import load_recipe
from distrokit.pkg.tag import package_tag


def _pkg(tmp_path: Path, text: str) -> Path:
    (tmp_path / "build.yml").write_text(text)
    return tmp_path


def test_minimal_recipe(tmp_path: Path) -> None:
    recipe = load_recipe(_pkg(tmp_path, "image: hello\n"))
    assert recipe.name == "distrokit/hello"
    assert recipe.debian is None and recipe.files == []


def test_full_recipe(tmp_path: Path) -> None:
    recipe = load_recipe(_pkg(tmp_path, """\
image: getty
org: example
debian:
  packages: [busybox-static]
  keep: [bin/busybox]
busybox-applets: bin/busybox
files:
  - {source: x.sh, path: /usr/bin/x.sh, mode: "0755"}
  - {path: /etc/issue, contents: "hi\\n"}
  - {path: /var/empty, directory: true}
  - {path: /bin/sh, symlink: busybox}
entrypoint: [/bin/sh]
config: {pid: host}
"""))
    assert recipe.name == "example/getty"
    assert recipe.busybox_applets == "bin/busybox"
    assert recipe.config == {"pid": "host"}
    assert [f.path for f in recipe.files] == ["/usr/bin/x.sh", "/etc/issue", "/var/empty",
                                               "/bin/sh"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("imag: x\n", "build.yml:1:1: unknown key 'imag'"),
        ("image: x\nfiles:\n  - path: /a\n    mode: 999\n",
         "build.yml:4:11: files[0].mode: expected a string, got an integer (999) "
         "(put it in quotes)"),
        ("image: x\nfiles:\n  - path: /a\n    contents: a\n    directory: true\n",
         "exactly one of source, contents, directory, symlink"),
        ("image: Bad Name\n", "build.yml:1:8: image: 'Bad Name' is not an image name"),
        ("image: x\ndebian:\n  pakages: [a]\n",
         "build.yml:3:3: unknown key 'pakages' in debian (did you mean 'packages'?)"),
        ("image: x\nkernel: \"yes\"\n", "build.yml:2:9: kernel: expected true or false"),
        ("image: [\n", "build.yml:2:1"),
        ("- a\n", "expected a mapping"),
    ],
)
def test_bad_recipes(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DistrokitError) as info:
        load_recipe(_pkg(tmp_path, text))
    assert message in str(info.value)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DistrokitError, match="not found"):
        load_recipe(tmp_path / "nope")
    with pytest.raises(DistrokitError, match="needs a build\\.yml"):
        load_recipe(tmp_path)


def test_tag_follows_content(tmp_path: Path) -> None:
    _pkg(tmp_path, "image: x\n")
    first = package_tag(tmp_path, ["a=1"])
    assert first == package_tag(tmp_path, ["a=1"])
    assert first != package_tag(tmp_path, ["a=2"])
    (tmp_path / "extra").write_text("x")
    second = package_tag(tmp_path, ["a=1"])
    assert second != first
    (tmp_path / "extra").chmod(0o755)
    assert package_tag(tmp_path, ["a=1"]) != second
    # Only the executable bit counts: a different umask on checkout changes nothing.
    (tmp_path / "extra").chmod(0o775)
    assert package_tag(tmp_path, ["a=1"]) == package_tag(tmp_path, ["a=1"])
