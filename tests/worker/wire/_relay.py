"""A TCP relay that keeps every byte it forwards, both ways: what a passive sniffer on the LAN sees."""

from __future__ import annotations

import asyncio

from worker.wire import Peer


class Relay:
    """``await relay.async_route(peer)`` gives a peer at a relay port that forwards to ``peer``; ``wire`` has it all."""

    def __init__(self) -> None:
        self.wire = bytearray()
        self._servers: list[asyncio.AbstractServer] = []

    async def async_route(self, peer: Peer) -> Peer:
        """A new relay port in front of ``peer`` (same device name)."""
        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection(peer.host, peer.port)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

        server = await asyncio.start_server(relay, "127.0.0.1", 0)
        self._servers.append(server)
        return Peer(peer.device, "127.0.0.1", server.sockets[0].getsockname()[1])

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                self.wire.extend(data)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def close(self) -> None:
        """Stop listening (connections in progress end with their peers)."""
        for server in self._servers:
            server.close()
