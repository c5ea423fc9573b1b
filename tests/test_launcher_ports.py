"""Which ports the launcher counts as taken: a listening socket yes, a stopped server's no."""

from __future__ import annotations

import socket

from flows.launcher_ports import port_taken


def test_a_listening_port_is_taken() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert port_taken("127.0.0.1", server.getsockname()[1])


def test_the_port_of_a_server_just_stopped_is_free() -> None:
    """Its closed connections wait in TIME_WAIT; a server binding the port again may use it, so
    the next `make run` must not move to another port."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server closes first: its side waits in TIME_WAIT
    client.close()
    server.close()
    assert not port_taken("127.0.0.1", port)
