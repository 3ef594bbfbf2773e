from distrokit.pkg.tree import Tree
from distrokit.stream import Entry, Kind


def test_parents_sorting_and_overrides() -> None:
    tree = Tree()
    tree.add(Entry("usr/bin/b", Kind.FILE, mode=0o755, uid=5), b"b")
    tree.add(Entry("usr/bin/a", Kind.FILE), b"old")
    tree.add(Entry("usr/bin/a", Kind.FILE), b"new")
    tree.add(Entry("usr", Kind.DIR, mode=0o700))  # an existing directory keeps its first mode
    entries = list(tree.entries(mtime=42))
    assert [e.path for e in entries] == ["usr", "usr/bin", "usr/bin/a", "usr/bin/b"]
    assert entries[0].mode == 0o755
    assert all(e.mtime == 42 for e in entries)
    a = entries[2]
    assert a.data is not None and a.data.read() == b"new" and a.size == 3


def test_file_replaces_directory() -> None:
    tree = Tree()
    tree.add(Entry("etc/x/y", Kind.FILE), b"1")
    tree.add(Entry("etc/x", Kind.SYMLINK, linkname="/tmp"))
    assert sorted(tree.nodes) == ["etc", "etc/x"]
