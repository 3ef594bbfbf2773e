"""Every output format of examples/hello.yml: built once (all formats from
one assembly), opened to check its structure, built again to compare bytes,
and booted in QEMU under BIOS and UEFI where both apply.

The boots use a copy of hello.yml with a 2 s power-off delay instead of 10 s
(≈ 17 boots under TCG), built with a fixed SOURCE_DATE_EPOCH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from distrokit.cli import main
from distrokit.output.formats import Format

ROOT = Path(__file__).resolve().parents[2]
EPOCH = "1700000000"
REPRODUCIBLE = [Format.KERNEL_INITRD, Format.TAR_KERNEL_INITRD, Format.TAR, Format.DOCKER,
                Format.KERNEL_SQUASHFS, Format.KERNEL_EROFS, Format.ISO_BIOS, Format.ISO_EFI,
                Format.ISO_EFI_INITRD, Format.RAW_BIOS, Format.RAW_EFI, Format.AWS,
                Format.QCOW2_BIOS, Format.QCOW2_EFI, Format.GCP]

pytestmark = [pytest.mark.network, pytest.mark.boot]


def _tools_missing() -> list[str]:
    from distrokit.log import DistrokitError
    from distrokit.output.tools import check

    missing = []
    for fmt in Format:
        try:
            check(fmt.needs())
        except DistrokitError as exc:
            missing.append(exc.message)
    return missing


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    from distrokit.image.cache import default_cache_dir

    env = os.environ.get("DISTROKIT_TEST_CACHE")
    return Path(env) if env else default_cache_dir()


@pytest.fixture(scope="session")
def blueprint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hello.yml with absolute package paths and a shorter power-off delay."""
    text = (ROOT / "examples" / "hello.yml").read_text()
    text = text.replace("@pkg:../", f"@pkg:{ROOT}/")
    assert '"/poweroff.sh", "10"' in text
    text = text.replace('"/poweroff.sh", "10"', '"/poweroff.sh", "2"')
    path = tmp_path_factory.mktemp("blueprint") / "hello.yml"
    path.write_text(text)
    return path


def _build(cache: Path, blueprint: Path, out: Path, formats: list[Format]) -> None:
    missing = _tools_missing()
    if missing:
        pytest.skip(f"host tools missing: {missing[0]}")
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    try:
        code = main(["-q", "--cache", str(cache), "build", "--dir", str(out),
                     "--format", ",".join(f.value for f in formats), str(blueprint)])
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]
    assert code == 0


@pytest.fixture(scope="session")
def built(cache_dir: Path, blueprint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("formats")
    _build(cache_dir, blueprint, out, list(Format))
    return out


def test_every_format_writes_its_files(built: Path) -> None:
    for fmt in Format:
        for path in fmt.outputs(built, "hello"):
            assert path.is_file() and path.stat().st_size > 0, path
    assert not [p for p in built.iterdir() if p.name.startswith(".")]  # no leftovers


def test_reproducible(built: Path, cache_dir: Path, blueprint: Path, tmp_path: Path) -> None:
    _build(cache_dir, blueprint, tmp_path, REPRODUCIBLE)
    for fmt in REPRODUCIBLE:
        for path in fmt.outputs(built, "hello"):
            again = tmp_path / path.name
            assert again.read_bytes() == path.read_bytes(), f"{fmt}: {path.name} differs"


# -- structure ------------------------------------------------------------------

def _iso_files(iso: Path) -> set[str]:
    result = subprocess.run(["xorriso", "-indev", str(iso), "-find", "/", "-type", "f"],
                            capture_output=True, text=True, check=True)
    return {line.strip().strip("'") for line in result.stdout.splitlines() if line.strip()}


def test_iso_bios_structure(built: Path) -> None:
    files = _iso_files(built / "hello.iso")
    assert {"/isolinux/isolinux.bin", "/isolinux/ldlinux.c32", "/isolinux/isolinux.cfg",
            "/boot/kernel", "/boot/initrd.img"} <= files
    report = subprocess.run(["xorriso", "-indev", str(built / "hello.iso"), "-report_el_torito",
                             "plain"], capture_output=True, text=True, check=True).stdout
    assert "BIOS" in report


@pytest.mark.parametrize("name", ["hello-efi.iso", "hello-efi-initrd.iso"])
def test_iso_efi_structure(built: Path, name: str) -> None:
    report = subprocess.run(["xorriso", "-indev", str(built / name), "-report_el_torito",
                             "plain"], capture_output=True, text=True, check=True).stdout
    assert "UEFI" in report
    files = _iso_files(built / name)
    assert {"/boot/kernel", "/boot/initrd.img"} <= files


@pytest.mark.parametrize(("name", "label", "ptype"), [
    ("hello-bios.img", "dos", "ef"),
    ("hello.raw", "dos", "ef"),
    ("hello-efi.img", "gpt", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
])
def test_disk_partitions(built: Path, name: str, label: str, ptype: str) -> None:
    table = json.loads(subprocess.run(["sfdisk", "--json", str(built / name)],
                                      capture_output=True, text=True, check=True).stdout)
    pt = table["partitiontable"]
    assert pt["label"] == label
    (part,) = pt["partitions"]
    assert part["type"].upper() == ptype.upper() and part["start"] == 2048
    if label == "dos":
        assert part.get("bootable") is True
    listing = subprocess.run(["mdir", "-i", f"{built / name}@@1048576", "-b", "-/", "::/"],
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout
    for wanted in ("EFI/BOOT/BOOTX64.EFI", "boot/kernel", "boot/initrd.img"):
        assert wanted.lower() in listing.lower()


@pytest.mark.parametrize(("name", "fmt"), [
    ("hello.qcow2", "qcow2"), ("hello-efi.qcow2", "qcow2"), ("hello.vhd", "vpc"),
    ("hello-dynamic.vhd", "vpc"), ("hello.vmdk", "vmdk"),
])
def test_converted_images(built: Path, name: str, fmt: str) -> None:
    # -f: qemu-img's probe takes a fixed VHD (a raw disk + footer) for raw.
    info = json.loads(subprocess.run(["qemu-img", "info", "-f", fmt, "--output=json",
                                      str(built / name)],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["format"] == fmt
    assert info["virtual-size"] >= (built / "hello-bios.img").stat().st_size


def test_gcp_and_tars(built: Path) -> None:
    with tarfile.open(built / "hello.img.tar.gz") as tar:
        assert tar.getnames() == ["disk.raw"]
    with tarfile.open(built / "hello-initrd.tar") as tar:
        assert tar.getnames() == ["boot", "boot/kernel", "boot/initrd.img", "boot/cmdline"]
    with tarfile.open(built / "hello.tar") as tar:
        names = set(tar.getnames())
    assert {"init", "bin/busybox", "containers/services/greeter/config.json"} <= names


def test_tar_to_stdout(cache_dir: Path, blueprint: Path, built: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "distrokit", "-q", "--cache", str(cache_dir), "build",
         "--dir", str(tmp_path), "-f", "docker", "-o", "-", str(blueprint)],
        capture_output=True, check=True, env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH})
    assert result.stdout == (built / "hello-docker.tar").read_bytes()
    assert list(tmp_path.iterdir()) == []


# -- boots ------------------------------------------------------------------------

BOOTS = [(fmt, fw) for fmt in Format for fw in fmt.firmware if fmt is not Format.GCP]


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="needs qemu-system-x86")
@pytest.mark.parametrize(("fmt", "firmware"), BOOTS, ids=[f"{f.value}-{w}" for f, w in BOOTS])
def test_boots(built: Path, cache_dir: Path, fmt: Format, firmware: str) -> None:
    files = fmt.outputs(built, "hello")
    target = str(built / "hello") if fmt is Format.KERNEL_INITRD else str(files[1] if fmt in (
        Format.KERNEL_SQUASHFS, Format.KERNEL_EROFS) else files[0])
    argv = [sys.executable, "-m", "distrokit", "run", "qemu", "--accel", "tcg",
            "--timeout", "180", target]
    if firmware == "uefi":
        argv.insert(-1, "--uefi")
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=240)
    console = result.stdout.decode(errors="replace")
    tail = console[-3000:] + result.stderr.decode(errors="replace")
    assert "hello from an onboot container" in console, tail
    assert "hello from a service" in console, tail
    assert result.returncode == 0, tail
