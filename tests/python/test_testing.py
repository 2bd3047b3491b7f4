"""`trinity_core.testing.RedisServer`: a real redis-server the tests of every tier can share."""

from __future__ import annotations

import socket

from trinity_core.testing import RedisServer


def test_redis_server_starts_restarts_and_stops() -> None:
    with RedisServer() as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert server.command("SET k v") == "+OK"
        server.restart()
        assert server.command("GET k") == "$-1", "a restart starts empty"
        port = server.port
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "stopped when the block ends"
