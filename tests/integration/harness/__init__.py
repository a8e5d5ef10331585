"""The integration suite's harness: registries, a fleet of SSH hosts, Envoy, module and role runners.

Test files import from here, never from each other; the fixtures built on it are in ``conftest.py``.
"""
