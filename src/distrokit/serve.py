"""``distrokit serve``: built outputs over HTTP for network boot.

Files are served as they are (HTTP range requests are not needed by iPXE).
For every kernel+initrd output ``N`` in the directory, ``/N.ipxe`` is an
iPXE script that boots it; iPXE resolves its relative URLs against the
script's own, so the script works under any host name or address.
"""

from __future__ import annotations

import functools
import http.server
import urllib.parse
from pathlib import Path
from typing import Any

from distrokit.log import DistrokitError, info


def ipxe_script(directory: Path, name: str) -> bytes | None:
    """The iPXE script for output ``name``, or None when it is not there."""
    kernel, initrd = directory / f"{name}-kernel", directory / f"{name}-initrd.img"
    if "/" in name or not (kernel.is_file() and initrd.is_file()):
        return None
    cmdline_file = directory / f"{name}-cmdline"
    cmdline = cmdline_file.read_text().strip() if cmdline_file.is_file() else ""
    # initrd=NAME lets an EFI-stub kernel find the initrd iPXE loaded.
    return (f"#!ipxe\nkernel {kernel.name} initrd={initrd.name} {cmdline}\n"
            f"initrd {initrd.name}\nboot\n").encode()


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if path.endswith(".ipxe") and not Path(self.translate_path(path)).exists():
            script = ipxe_script(Path(self.directory), path.lstrip("/").removesuffix(".ipxe"))
            if script is not None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(script)))
                self.end_headers()
                self.wfile.write(script)
                return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        info(f"{self.address_string()} {format % args}")


def make_server(directory: Path, port: int, address: str = "127.0.0.1"
                ) -> http.server.ThreadingHTTPServer:
    if not directory.is_dir():
        raise DistrokitError(f"{directory} is not a directory")
    handler = functools.partial(Handler, directory=str(directory))
    try:
        return http.server.ThreadingHTTPServer((address, port), handler)
    except OSError as exc:
        raise DistrokitError(f"cannot listen on {address}:{port}: {exc.strerror}") from None


def serve(directory: Path, port: int, address: str = "127.0.0.1") -> None:
    server = make_server(directory, port, address)
    host, bound = server.server_address[:2]
    if isinstance(host, bytes):
        host = host.decode()
    info(f"serving {directory} on http://{host}:{bound}/ (N.ipxe boots output N)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
