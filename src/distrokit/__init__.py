"""distrokit: assemble small, immutable Linux systems out of containers."""

__version__ = "0.1.0"
