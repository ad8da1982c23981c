"""A TCP forwarder on loopback whose ``cut`` makes the server behind it unreachable.

The database-outage test puts it between ``postdesk serve`` and the machine's PostgreSQL, so
the database "goes down" for the gateway only: other tests keep using the real server.
``cut`` stops listening (new connections are refused) and aborts every open connection, as
a stopped server would; ``restore`` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0
        self._server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpProxy:
        if self.port:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
            return self
        # A port below the kernel's ephemeral range: while the proxy is cut, a port from
        # that range can be handed to some outgoing connection, and restoring then fails.
        low = _ephemeral_low()
        for _ in range(200):
            port = random.randrange(max(1024, low - 12000), low)
            try:
                self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
            except OSError:
                continue
            self.port = port
            return self
        raise OSError("no free port below the ephemeral range")

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def restore(self) -> None:
        await self.start()

    async def stop(self) -> None:
        await self.cut()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._open |= {writer, up_writer}
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self._open -= {writer, up_writer}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.transport.abort()
