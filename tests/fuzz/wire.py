"""A small HTTP/1.1 client on a raw socket: it sends any header name, value and body bytes
(http.client refuses some), and a connection closed or reset without a complete response
is an exception the properties see, never a retry."""

from __future__ import annotations

import contextlib
import http.client
import socket
from dataclasses import dataclass


class Dropped(AssertionError):
    """The gateway closed the connection without a complete response."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def exchange(
    port: int,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes | None = None,
    timeout: float = 20.0,
) -> Answer:
    head = [f"{method} {path} HTTP/1.1".encode("latin-1"), b"host: 127.0.0.1"]
    for name, value in headers or ():
        head.append(name + b": " + value)
    if body is not None:
        head.append(b"content-length: " + str(len(body)).encode())
    head.append(b"connection: close")
    raw = b"\r\n".join(head) + b"\r\n\r\n" + (body or b"")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # Refused early (431, 413): the answer is still owed, and read below.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        response = http.client.HTTPResponse(sock, method=method)
        try:
            response.begin()
            data = response.read()
        except (http.client.HTTPException, ConnectionError) as exc:
            raise Dropped(f"{method} {path}: no complete response ({exc!r})") from None
        finally:
            response.close()
    return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
