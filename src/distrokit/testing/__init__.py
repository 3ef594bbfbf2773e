"""Testing built systems: a VM handle (vm.py), the pytest plugin
(plugin.py), test cases as directories and their runner (cases.py,
runner.py) for ``distrokit test``. See docs/testing.md."""

from distrokit.testing.vm import SSH, VM, RunResult, VMError, VMTimeout

__all__ = ["SSH", "VM", "RunResult", "VMError", "VMTimeout"]
