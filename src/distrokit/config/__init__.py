"""The system description: LinuxKit YAML read with positions, validated, merged.

``load()`` is the entry point; every problem it finds is reported at once in a
:class:`ConfigError`, one ``FILE:LINE:COL: what`` a line.
"""

from .dump import as_linuxkit, dump_json, dump_yaml
from .load import load, load_text, validate_label
from .problems import ConfigError, Pos, Problem
from .schema import Container, File, ImageConfig, Kernel, System, Volume

__all__ = [
    "ConfigError",
    "Container",
    "File",
    "ImageConfig",
    "Kernel",
    "Pos",
    "Problem",
    "System",
    "Volume",
    "as_linuxkit",
    "dump_json",
    "dump_yaml",
    "load",
    "load_text",
    "validate_label",
]
