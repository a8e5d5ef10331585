# Copyright (c) 2026, wasm.oci contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Exceptions raised by the pure parts of the collection.

Every message names the thing that is wrong and, where there is one, how to fix it,
so modules can hand it to the user as it is.
"""

from __future__ import annotations


class WasmOciError(Exception):
    """Base class: anything a module should report as a task failure."""


class InvalidReferenceError(WasmOciError):
    """An image reference that cannot be parsed."""


class WasmModuleError(WasmOciError):
    """Bytes that are not a valid WebAssembly module."""


class RuntimeConfigError(WasmOciError):
    """A runtime config that is not JSON or does not have the expected shape."""


class ImageFormatError(WasmOciError):
    """A manifest, index, config or layer that breaks the Wasm image format."""


class LayoutError(WasmOciError):
    """An OCI image layout directory that is missing, malformed or lacks a tag."""


class RegistryError(WasmOciError):
    """A registry that cannot be reached, refuses a request or answers nonsense."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class SigningKeyError(WasmOciError):
    """A signing or verification key that cannot be read or is not an ECDSA P-256 key."""


class SignatureError(WasmOciError):
    """A cosign signature or signature payload that is malformed, or images that fail verification."""


class MissingDependency(WasmOciError):
    """A Python package this task needs is not installed on the host that runs it (the optional_* files guard them)."""

    def __init__(self, package: str, needed_for: str) -> None:
        super().__init__(
            f'{needed_for} needs the Python package {package} on the host that runs the task: install it for the '
            f'Python that Ansible uses there (pip install {package}, or the python3-{package.lower()} system package)'
        )
        self.package = package
