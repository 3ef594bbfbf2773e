"""The Debian archive: signed indexes, dependency resolution, .deb extraction."""

from distrokit.debian.archive import DEFAULT_KEYRING, Archive, Repo, default_repos
from distrokit.debian.deb import control_fields, data_entries
from distrokit.debian.index import Package

__all__ = ["DEFAULT_KEYRING", "Archive", "Package", "Repo", "control_fields", "data_entries",
           "default_repos"]
