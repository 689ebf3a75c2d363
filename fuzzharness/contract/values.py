"""The contract's outputs as Python values, and the harness's limits on one call's buffers.

:class:`StatsValue` is ``fh_stats`` and :class:`ResourceInfo` is ``fh_resource_info``,
as frozen dataclasses of plain ints: what the bindings return, what the model predicts
and what travels between processes. No cffi here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StatsValue", "ResourceInfo", "MAX_WRITE_LEN", "MAX_READ_LEN"]

#: Largest data length of one ``write`` and length of one ``read`` in a program
#: (the bindings' read buffer has this size).
MAX_WRITE_LEN = 256
MAX_READ_LEN = 4096


@dataclass(frozen=True)
class StatsValue:
    """``fh_stats`` as a value."""

    live_resources: int
    live_bytes: int
    created: int
    reclaimed: int
    pending_resources: int
    pending_bytes: int

    def __str__(self) -> str:
        return (
            f"live {self.live_resources}/{self.live_bytes}B created {self.created} "
            f"reclaimed {self.reclaimed} pending {self.pending_resources}/{self.pending_bytes}B"
        )


@dataclass(frozen=True)
class ResourceInfo:
    """``fh_resource_info`` as a value."""

    size: int
    refs: int
    read_only: bool

    def __str__(self) -> str:
        return f"size {self.size} refs {self.refs}" + (" read-only" if self.read_only else "")
