"""An HTTP proxy that only tunnels (``CONNECT host:port``), run in threads of the test process, as the proxies in front
of registries over HTTPS do. It keeps the head of each ``CONNECT`` it was sent, and sees nothing of what goes through
the tunnel but TLS records."""

from __future__ import annotations

import socket
import threading


class TunnelProxy:
    """Listens on a loopback port; ``connects`` holds the request line and headers (names in lower case) of each tunnel
    asked for, in order."""

    def __init__(self) -> None:
        self._listener = socket.create_server(('127.0.0.1', 0))
        self.port: int = self._listener.getsockname()[1]
        self.connects: list[tuple[str, dict[str, str]]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        with client:
            head = b''
            while b'\r\n\r\n' not in head:
                data = client.recv(65536)
                if not data:
                    return
                head += data
            line, *fields = head.split(b'\r\n\r\n', 1)[0].decode('latin-1').split('\r\n')
            self.connects.append((line, {name.lower(): value.strip() for name, value in (field.split(':', 1) for field in fields)}))
            method, target, _version = line.split(' ')
            if method != 'CONNECT':
                client.sendall(b'HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
                return
            host, port = target.rsplit(':', 1)
            with socket.create_connection((host, int(port)), timeout=10) as upstream:
                client.sendall(b'HTTP/1.1 200 Connection established\r\n\r\n')
                back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
                back.start()
                _pipe(client, upstream)
                back.join(10)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy ``source`` to ``sink`` until ``source`` ends, then end ``sink``'s side of the stream."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass
