"""Untrusted text on a terminal: :func:`printable`.

Text from finding files, corpora and configs is untrusted (it travels between machines and
teams). Whatever of it the harness prints goes through :func:`printable` first, so it never
reaches a terminal with its control characters: an ``\\x1b[2J`` in a signature is shown as
those characters, not obeyed. Newlines and tabs are kept; nothing else changes.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with control characters (C0 but newline and tab, DEL, C1, line separators,
    bidirectional overrides) written as ``\\xNN`` / ``\\uNNNN`` escapes."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                         text)  # fmt: skip
