"""An image's file tree being put together in memory: Debian packages, then
the recipe's additions, later entries replacing earlier ones at the same path.
Written out sorted, root-owned and with one fixed mtime, so the same input is
always the same layer."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from distrokit.stream import Entry, Kind, clean


@dataclass
class Node:
    entry: Entry  # data is None here; the bytes live in content
    content: bytes = b""


class Tree:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def add(self, entry: Entry, content: bytes = b"") -> None:
        path = clean(entry.path)
        if not path:
            return  # the root itself
        self._parents(path)
        existing = self.nodes.get(path)
        if existing and existing.entry.kind is Kind.DIR and entry.kind is Kind.DIR:
            return  # first one wins for shared directories like usr/bin
        if existing and existing.entry.kind is Kind.DIR:
            self.remove(path)
        self.nodes[path] = Node(replace(entry, path=path, data=None), content)

    def add_stream(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            content = entry.data.read() if entry.kind is Kind.FILE and entry.data else b""
            self.add(entry, content)

    def remove(self, path: str) -> None:
        prefix = path + "/"
        for key in [k for k in self.nodes if k == path or k.startswith(prefix)]:
            del self.nodes[key]

    def get(self, path: str) -> Node | None:
        return self.nodes.get(clean(path))

    def _parents(self, path: str) -> None:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            node = self.nodes.get(parent)
            if node is None or node.entry.kind is not Kind.DIR:
                self.nodes[parent] = Node(Entry(parent, Kind.DIR, mode=0o755))

    def entries(self, mtime: int) -> Iterator[Entry]:
        """The tree in path order (parents first), root-owned unless set, at mtime."""
        for path in sorted(self.nodes, key=lambda p: p.split("/")):
            node = self.nodes[path]
            entry = replace(node.entry, mtime=mtime)
            if entry.kind is Kind.FILE:
                entry = replace(entry, size=len(node.content), data=io.BytesIO(node.content))
            yield entry
