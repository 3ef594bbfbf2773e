"""Benchmark: pull a multi-layer image of about 200 MB from a registry on
127.0.0.1 into an empty cache, with distrokit and with skopeo
(``skopeo copy docker://... oci:DIR``) in the same run, alternating. Reports
medians and the ratio distrokit / skopeo (target: <= 1.0). Asserts nothing.

    .venv/bin/python bench/pull.py [--runs N] [--mb 200] [--layers 8]

Needs docker-registry and skopeo (scripts/setup installs both).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from distrokit.image import oci
from distrokit.image.cache import Cache


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_layer(size: int, seed: int) -> tuple[bytes, str]:
    """A gzip tar layer of about size/2 bytes: size/2 random (incompressible)
    bytes and size/2 of repetitive text (which compresses to almost nothing)."""
    import hashlib

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in ((f"random-{seed}", os.urandom(size // 2)),
                           (f"text-{seed}", (f"line {seed} of text\n" * (size // 36)).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    plain = raw.getvalue()
    return gzip.compress(plain, compresslevel=1, mtime=0), \
        "sha256:" + hashlib.sha256(plain).hexdigest()


def make_image(cache: Cache, name: str, total_mb: int, layers: int) -> int:
    descs, diff_ids, size = [], [], 0
    for i in range(layers):
        blob, diff_id = make_layer(total_mb * (2 << 20) // layers, i)
        descs.append({"mediaType": oci.LAYER_GZIP, "digest": cache.write_blob(blob),
                      "size": len(blob)})
        diff_ids.append(diff_id)
        size += len(blob)
    config = oci.canonical_json({"architecture": "amd64", "os": "linux", "config": {},
                                 "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    cache.write_blob(config)
    manifest = oci.canonical_json({"schemaVersion": 2, "mediaType": oci.MANIFEST,
                                   "config": oci.descriptor(oci.CONFIG, config),
                                   "layers": descs})
    cache.write_blob(manifest)
    cache.tag(name, oci.descriptor(oci.MANIFEST, manifest))
    return size


def timed(argv: list[str]) -> float:
    os.sync()  # the previous run's writeback must not land in this run's time
    start = time.monotonic()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mb", type=int, default=200, help="compressed image size (about)")
    parser.add_argument("--layers", type=int, default=8)
    args = parser.parse_args()
    registry, skopeo = shutil.which("docker-registry"), shutil.which("skopeo")
    if not registry or not skopeo:
        print("needs docker-registry and skopeo: apt-get install docker-registry skopeo")
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-pull-"))
    port = free_port()
    (work / "config.yml").write_text(json.dumps({
        "version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(work / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}"}}))
    proc = subprocess.Popen([registry, "serve", str(work / "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        source = Cache(work / "source")
        size = make_image(source, "bench/big:1", args.mb, args.layers)
        del source
        ref = f"127.0.0.1:{port}/bench/big:1"
        subprocess.run([skopeo, "copy", "-q", "--dest-tls-verify=false",
                        f"oci:{work / 'source'}:docker.io/bench/big:1", f"docker://{ref}"],
                       check=True)
        print(f"image: {args.layers} layers, {size / 1e6:.0f} MB compressed")
        ours: list[float] = []
        theirs: list[float] = []
        for run in range(args.runs):
            for target in ("ours", "theirs"):
                out = work / f"{target}-{run}"
                if target == "ours":
                    ours.append(timed([sys.executable, "-m", "distrokit", "-q", "--cache",
                                       str(out), "cache", "pull", ref]))
                else:
                    theirs.append(timed([skopeo, "copy", "-q", "--src-tls-verify=false",
                                         f"docker://{ref}", f"oci:{out}:big"]))
                shutil.rmtree(out)
        mo, mt = statistics.median(ours), statistics.median(theirs)
        print(f"distrokit cache pull: median {mo:.2f} s  {' '.join(f'{t:.2f}' for t in ours)}")
        print(f"skopeo copy:          median {mt:.2f} s  {' '.join(f'{t:.2f}' for t in theirs)}")
        print(f"ratio distrokit/skopeo: {mo / mt:.2f} (target <= 1.0); "
              f"distrokit {size / mo / 1e6:.0f} MB/s")
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
