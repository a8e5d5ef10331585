"""The requests a CNCF Distribution registry served, read from its access log between two points in time.

Counting from the access log costs the client nothing (the registry writes it anyway), unlike a counting proxy. The
integration tests count the requests of no-op runs with it (test_request_counts.py), the benchmarks those of every run.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import time
import typing as t

# 127.0.0.1 - - [01/Dec/2026:19:43:54 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "python-requests/2.34.2"
_ACCESS_LINE = re.compile(r'^\S+ \S+ \S+ \[[^\]]*\] "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) (?P<size>\d+|-) ')


@dataclasses.dataclass(frozen=True)
class AccessEntry:
    """One request as the registry logged it. ``size`` is the response body size the handler wrote (for HEAD the
    registry logs the would-be size although nothing is sent: use ``bytes_sent``)."""

    method: str
    path: str
    status: int
    size: int

    @property
    def bytes_sent(self) -> int:
        return 0 if self.method == 'HEAD' else self.size

    @property
    def is_blob_download(self) -> bool:
        """A GET of ``/v2/<name>/blobs/<digest>`` (not an upload session)."""
        return self.method == 'GET' and '/blobs/' in self.path and '/blobs/uploads/' not in self.path

    @property
    def is_blob_upload(self) -> bool:
        """Any request of an upload session: POST to start it, PATCH of data, PUT to finish it."""
        return '/blobs/uploads/' in self.path

    @property
    def is_manifest(self) -> bool:
        return '/manifests/' in self.path


class AccessLog:
    """The access log lines of a registry's log file, between a ``mark()`` and now.

    ``mark = log.mark(); ...client work...; entries = log.since(mark)``; ``AccessLog.count(entries)`` sums them up.
    ``since`` waits until the log stops growing for ``settle`` seconds: the registry logs a request after answering
    it, so the last line can land just after the client returned.
    """

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def mark(self) -> int:
        """The current end of the log (a byte offset)."""
        return self.path.stat().st_size

    def since(self, mark: int, *, settle: float = 0.3, timeout: float = 5.0) -> list[AccessEntry]:
        deadline = time.monotonic() + timeout
        size = self.path.stat().st_size
        while time.monotonic() < deadline:
            time.sleep(settle)
            grown = self.path.stat().st_size
            if grown == size:
                break
            size = grown
        with self.path.open('rb') as stream:
            stream.seek(mark)
            text = stream.read(size - mark).decode('utf-8', errors='replace')
        entries = []
        for line in text.splitlines():
            match = _ACCESS_LINE.match(line)
            if match:
                size_text = match['size']
                entries.append(AccessEntry(match['method'], match['path'], int(match['status']), 0 if size_text == '-' else int(size_text)))
        return entries

    @staticmethod
    def count(entries: t.Sequence[AccessEntry]) -> dict[str, t.Any]:
        """``requests`` (all, including ``/v2/`` pings and auth challenges), ``blob_bytes`` (bytes of blob GETs),
        ``blob_downloads``, ``blob_uploads`` (requests of upload sessions), ``manifest_requests`` and ``lines``
        (``"METHOD path status"`` of each, for the report)."""
        return {
            'requests': len(entries),
            'blob_bytes': sum(entry.bytes_sent for entry in entries if entry.is_blob_download),
            'blob_downloads': sum(1 for entry in entries if entry.is_blob_download),
            'blob_uploads': sum(1 for entry in entries if entry.is_blob_upload),
            'manifest_requests': sum(1 for entry in entries if entry.is_manifest),
            'lines': [f'{entry.method} {entry.path} {entry.status}' for entry in entries],
        }
