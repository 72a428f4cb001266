"""Keep-alive HTTP/1.1 connections to one OPA server, for decision queries.

opa-python-client rides on `requests`, which costs about 0.6 ms per query here, more than
OPA's own evaluation (bench/bench_policy.py; docs/policy.md has numbers): decisions go
through this small pool of `http.client` connections instead. Every request carries the
server's bearer token (the managed server refuses any request without it).
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit


class EngineUnreachable(Exception):
    """Internal: the query could not reach the server (refused, reset, closed)."""


class EngineTimeout(Exception):
    """Internal: the server did not answer within the timeout."""


class KeepAlivePool:
    """Keep-alive HTTP/1.1 connections to one server; one connection per concurrent caller."""

    def __init__(
        self,
        url: str,
        timeout: float,
        maxsize: int = 16,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.timeout = timeout
        self.maxsize = maxsize
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def post_json(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST `body`; retries once on a fresh connection if a kept-alive one went stale."""
        connection, reused = self._acquire()
        try:
            result = self._roundtrip(connection, path, body)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            connection.close()
            if not reused:
                raise
            connection = self._connect()
            try:
                result = self._roundtrip(connection, path, body)
            except BaseException:
                connection.close()
                raise
        except BaseException:
            connection.close()
            raise
        self._release(connection)
        return result

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _roundtrip(
        self, connection: http.client.HTTPConnection, path: str, body: bytes
    ) -> tuple[int, bytes]:
        connection.request("POST", path, body, self.headers)
        response = connection.getresponse()
        return response.status, response.read()

    def _connect(self) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _acquire(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _release(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.maxsize:
                self._idle.append(connection)
                return
        connection.close()
