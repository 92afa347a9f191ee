"""Socket.IO packets that fail to decode end their connection quietly.

python-socketio decodes each message with `json.loads` and rebuilds binary
events recursively; a hostile client's packet that is not JSON, or is nested
deeper than Python's recursion limit (a RecursionError), raised out of the
decoder into Engine.IO, which logged a traceback per packet and kept the
connection. Here such a packet is refused as a `MalformedPacket`, logged on
one line, and the connection that sent it is closed: a client speaking
garbage is broken or hostile, and nothing it sent reaches a handler.

So is an event named like one of the connection's own (`connect`,
`disconnect`): python-socketio would run the connection handlers for it, and a
client's "disconnect" event made the server forget a socket that was still
open. Socket.IO reserves these names; its own clients never send them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import socketio
from socketio import packet

log = logging.getLogger(__name__)

DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, RecursionError)
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting"}
    | {"newListener", "removeListener"}
)
EVENTS = (packet.EVENT, packet.BINARY_EVENT)
# What a client may send a server (CONNECT_ERROR goes the other way only).
FROM_CLIENTS = frozenset(
    {packet.CONNECT, packet.DISCONNECT, packet.ACK, packet.BINARY_ACK, *EVENTS}
)


class MalformedPacket(ValueError):
    """A Socket.IO packet that does not decode."""


class GuardedPacket(packet.Packet):
    """python-socketio's packet, whose decoding errors are `MalformedPacket`."""

    def decode(self, encoded_packet: Any) -> int:
        """Decode as python-socketio does; any failure is a `MalformedPacket`."""
        try:
            attachments = super().decode(encoded_packet)
        except DECODE_ERRORS as error:
            raise MalformedPacket(_reason(error)) from None
        if self.packet_type not in FROM_CLIENTS:
            raise MalformedPacket(f"no packet type {self.packet_type!r} from a client")
        if self.packet_type in EVENTS and (
            not isinstance(self.data, list)
            or not self.data
            or not isinstance(self.data[0], str)
            or self.data[0] in RESERVED_EVENTS
        ):
            raise MalformedPacket("an event needs a name, not a reserved one")
        return attachments

    def add_attachment(self, attachment: Any) -> bool:
        """Add a binary attachment; a bad reference to one is a `MalformedPacket`."""
        try:
            return super().add_attachment(attachment)
        except DECODE_ERRORS as error:
            raise MalformedPacket(_reason(error)) from None


def _reason(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return f"{type(error).__name__}: {str(error)[:120]}"


def guard_messages(server: socketio.Server) -> None:
    """Close the connection of a client whose packet is a `MalformedPacket`."""
    handle: Callable[[str, Any], Any] = server.eio.handlers["message"]

    def guarded(eio_sid: str, data: Any) -> Any:
        try:
            return handle(eio_sid, data)
        except MalformedPacket as error:
            server._binary_packet.pop(eio_sid, None)
            log.warning("closed socket %s: malformed packet (%s)", eio_sid, error)
            server.eio.disconnect(eio_sid)
            return None

    server.eio.on("message", guarded)
