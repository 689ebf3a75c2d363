"""Framing of the messages between the harness and its worker subprocesses.

A frame is a 4-byte little-endian length followed by a pickle. Both ends are
processes of this package, started by the harness itself, so pickle is safe
here; nothing read from disk ever goes through this module.
"""

from __future__ import annotations

import pickle
import struct
from typing import IO, Any

__all__ = ["send", "recv_exact", "HEADER", "encode_frame", "decode_length"]

HEADER = struct.Struct("<I")


def encode_frame(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def decode_length(header: bytes) -> int:
    return HEADER.unpack(header)[0]


def send(stream: IO[bytes], message: Any) -> None:
    stream.write(encode_frame(message))
    stream.flush()


def recv_exact(stream: IO[bytes]) -> Any:
    """Read one frame from a blocking stream; raises EOFError at end of stream."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError("stream closed")
    length = decode_length(header)
    payload = stream.read(length)
    if len(payload) < length:
        raise EOFError("stream closed inside a frame")
    return pickle.loads(payload)
