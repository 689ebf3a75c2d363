"""Programs: operation sequences over handle slots, in three interchangeable forms.

A :class:`Program` is a session configuration plus a list of operations. Operations
name handles through :class:`HandleOperand` values:

* ``Ref(k)`` -- the handle returned by the k-th handle-producing operation
  (``create`` or ``snapshot``) of this program, written ``hK``. Numbering is
  static (by position), so ``h2`` always means the same op even when an earlier
  create failed; the handle of a failed op is the value 0 (never valid).
* ``Raw(v)`` -- a literal 64-bit value: forged, random, zero, all ones.
* ``Tweak(k, mask)`` -- ``hK ^ mask``: a real handle with bits flipped, which
  forges near misses (old or future generations, neighbouring slots).
* ``Nudge(k, delta)`` -- ``hK + delta`` modulo 2^64, written ``hK+1`` / ``hK-2``:
  a neighbour of a value the target itself issued, whatever its handle layout
  (an opaque target's values may be pointers or counters).

Besides the contract's calls, two operations shape lifetimes:

* ``Restart()`` (``restart``) -- close the session (``fh_shutdown``) and open a new
  one with the program's config (``fh_init``): two calls. Handles produced before
  it stay valid *operands*: values of a closed session, a source of forged handles;
* ``Repeat(count, body)`` (a ``repeat N { ... }`` block) -- run ``body``, a tuple of
  ordinary ops (no ``restart``, no nested ``repeat``), ``count`` times. Numbering
  stays static: each producing op of the body owns ONE index K; while the loop runs,
  ``hK`` is the value of the latest iteration (so ``h5 = create 8; release h5``
  releases the handle of the same iteration) and after it the last iteration's.
  Every executed op is one call: ``repeat 70000`` of two ops makes 140,000 calls.

The three forms:

* the in-memory form (these frozen dataclasses);
* a compact byte encoding (:func:`decode` / :func:`encode`). ``decode`` is total:
  EVERY byte string decodes to a valid program, so coverage-guided fuzzers can
  mutate bytes freely; ``decode(encode(p)) == p`` for every valid program the byte
  form can express (see :func:`encode`), and every encoding made before the forms
  above existed decodes to the same program as before;
* a readable, stable text form (:func:`to_text` / :func:`parse_text`) for saved
  findings, which a person can read and edit; ``parse_text(to_text(p)) == p``.
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass, field
from typing import Optional, Union

from fuzzharness.contract.header import MAX_CAPACITY, U64_MAX
from fuzzharness.contract.values import MAX_READ_LEN, MAX_WRITE_LEN
from fuzzharness.errors import CorruptInput

__all__ = [
    "Ref",
    "Raw",
    "Tweak",
    "Nudge",
    "HandleOperand",
    "Create",
    "Acquire",
    "Release",
    "Write",
    "Read",
    "Snapshot",
    "Info",
    "Stats",
    "Quiesce",
    "Restart",
    "Repeat",
    "CallOp",
    "Op",
    "Config",
    "Program",
    "decode",
    "encode",
    "to_text",
    "parse_text",
    "generate",
    "MAX_WRITE_LEN",
    "MAX_READ_LEN",
    "TEXT_HEADER",
    "VIAS",
    "with_via",
    "extended_forms",
    "within_calls",
    "MAX_REPEAT",
    "MAX_REPEAT_BODY",
    "MAX_REPEAT_CALLS",
    "generate_long_lifetime",
]

TEXT_HEADER = "# fuzzharness program v1"


# --------------------------------------------------------------------------- operands


@dataclass(frozen=True)
class Ref:
    """The handle produced by the ``index``-th handle-producing op of the program."""

    index: int

    def __str__(self) -> str:
        return f"h{self.index}"


@dataclass(frozen=True)
class Raw:
    """A literal 64-bit handle value."""

    value: int

    def __str__(self) -> str:
        return f"{self.value:#x}"


@dataclass(frozen=True)
class Tweak:
    """``h<index> ^ mask``: a real handle with some bits flipped."""

    index: int
    mask: int

    def __str__(self) -> str:
        return f"h{self.index}^{self.mask:#x}"


#: Largest |delta| of a :class:`Nudge` (it is taken modulo 2^64 anyway).
MAX_NUDGE = (1 << 63) - 1


@dataclass(frozen=True)
class Nudge:
    """``h<index> + delta`` modulo 2^64: a neighbour of a handle the target issued
    (``delta`` a nonzero signed int, ``|delta| <= MAX_NUDGE``)."""

    index: int
    delta: int

    def __str__(self) -> str:
        size = abs(self.delta)
        return f"h{self.index}{'+' if self.delta > 0 else '-'}{size if size <= 4096 else hex(size)}"


HandleOperand = Union[Ref, Raw, Tweak, Nudge]


# --------------------------------------------------------------------------- operations
#
# The runtime selector ``via`` (create and every op taking a handle): which runtime
# of a cross-runtime target makes the call. ``None`` is the target's default
# runtime (on a pair: the foreign front, e.g. Go in go+rust); ``"owner"`` /
# ``"foreign"`` name the two roles of a pair (go+rust: owner = rust, foreign = go).
# Roles rather than language names keep a program meaningful on any pair.
# Single-runtime targets ignore ``via`` (every call goes to their one library).
# Text form: an optional prefix, ``owner: h1 = create 16``, ``foreign: release h0``.

#: The runtime selectors, in byte-encoding order (index 0 = None, the default).
VIAS: tuple[str | None, ...] = (None, "owner", "foreign")
Via = Optional[str]


@dataclass(frozen=True)
class Create:
    size: int
    via: Via = None
    produces_handle = True


@dataclass(frozen=True)
class Acquire:
    handle: HandleOperand
    via: Via = None
    produces_handle = False


@dataclass(frozen=True)
class Release:
    handle: HandleOperand
    via: Via = None
    produces_handle = False


@dataclass(frozen=True)
class Write:
    handle: HandleOperand
    offset: int
    data: bytes
    via: Via = None
    produces_handle = False


@dataclass(frozen=True)
class Read:
    handle: HandleOperand
    offset: int
    length: int
    via: Via = None
    produces_handle = False


@dataclass(frozen=True)
class Snapshot:
    handle: HandleOperand
    via: Via = None
    produces_handle = True


@dataclass(frozen=True)
class Info:
    handle: HandleOperand
    via: Via = None
    produces_handle = False


@dataclass(frozen=True)
class Stats:
    produces_handle = False


@dataclass(frozen=True)
class Quiesce:
    produces_handle = False


@dataclass(frozen=True)
class Restart:
    """Close the session (``fh_shutdown``) and open a new one with the program's config
    (``fh_init``): two calls. A failed re-init ends the run, as a failed first init does."""

    produces_handle = False


#: Most iterations of one :class:`Repeat`.
MAX_REPEAT = 1 << 20
#: Most ops in the body of one :class:`Repeat`.
MAX_REPEAT_BODY = 16
#: Most calls one :class:`Repeat` makes (``count * len(body)``): a table of
#: ``MAX_CAPACITY`` filled plus one, twice over.
MAX_REPEAT_CALLS = 1 << 21


@dataclass(frozen=True)
class Repeat:
    """``body`` (ordinary ops: no Restart, no nested Repeat) run ``count`` times.

    Each producing op of the body owns one handle index for the whole loop (the
    latest iteration's value; see the module doc), so ``produces_handle`` is the
    number of indices the block owns, not a flag."""

    count: int
    body: tuple  # tuple[Op, ...]: ordinary ops

    @property
    def produces_handle(self) -> int:
        return sum(op.produces_handle for op in self.body)

    @property
    def calls(self) -> int:
        return self.count * len(self.body)


#: The ops a body of a :class:`Repeat` (and a concurrent program) may hold: the contract's calls.
CallOp = Union[Create, Acquire, Release, Write, Read, Snapshot, Info, Stats, Quiesce]
Op = Union[CallOp, Restart, Repeat]

#: Opcode order of the byte encoding. Never reorder: saved byte corpora depend on it.
_OPCODES: tuple[type, ...] = (Create, Acquire, Release, Write, Read, Snapshot, Info, Stats, Quiesce)
_OPNAME = {cls: cls.__name__.lower() for cls in (*_OPCODES, Restart, Repeat)}
_BY_NAME = {name: cls for cls, name in _OPNAME.items()}


def op_name(op: Op) -> str:
    """The name of an op in the text form: ``create``, ``write``, ..., ``restart``, ``repeat``."""
    return _OPNAME[type(op)]


# --------------------------------------------------------------------------- programs

#: (max_resource_bytes, max_total_bytes) tiers selectable by the byte encoding.
LIMIT_TIERS: tuple[tuple[int, int], ...] = (
    (1 << 16, 1 << 20),
    (64, 256),
    (4096, 4096),
    (1 << 20, 1 << 24),
    (16, 1 << 20),
    (1 << 16, 100),
    (0, 0),
    (1 << 32, 1 << 32),
)
STRATEGY_CLASSES = ("immediate", "deferred")


@dataclass(frozen=True)
class Config:
    """The session configuration of a program.

    ``strategy`` is a strategy *class*: ``immediate`` or ``deferred``; each target
    maps ``deferred`` to its own deferred strategy (Rust: epoch, Go: GC cleanup),
    as declared in the target registry.
    """

    capacity: int = 8
    strategy: str = "immediate"
    max_resource_bytes: int = 1 << 16
    max_total_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if not 1 <= self.capacity <= MAX_CAPACITY:
            raise ValueError(f"capacity must be 1..{MAX_CAPACITY} in a program, got {self.capacity}")
        if self.strategy not in STRATEGY_CLASSES:
            raise ValueError(f"strategy must be one of {STRATEGY_CLASSES}, got {self.strategy!r}")
        for name in ("max_resource_bytes", "max_total_bytes"):
            if not 0 <= getattr(self, name) <= U64_MAX:
                raise ValueError(f"{name} must fit in 64 bits")


@dataclass(frozen=True)
class Program:
    config: Config = field(default_factory=Config)
    ops: tuple[Op, ...] = ()

    def __post_init__(self) -> None:
        produced = 0
        for position, op in enumerate(self.ops):
            _validate_op(op, produced, position, extended=True)
            produced += op.produces_handle

    def __len__(self) -> int:
        return len(self.ops)

    @property
    def handle_producers(self) -> int:
        """How many handle indices (``hK``) the program has."""
        return sum(op.produces_handle for op in self.ops)

    @property
    def calls(self) -> int:
        """The contract calls the ops make (a Restart makes two, a Repeat ``count *
        len(body)``); a run has these plus init and the epilogue's three."""
        return sum(2 if type(op) is Restart else op.calls if type(op) is Repeat else 1 for op in self.ops)


def extended_forms(program: Program) -> frozenset[str]:
    """Which of the long-lifetime and forged-neighbour forms ``program`` uses: a subset
    of ``{"nudge", "restart", "repeat"}`` (empty: a program of the original forms)."""
    found = set()
    for op in program.ops:
        if type(op) is Restart:
            found.add("restart")
        elif type(op) is Repeat:
            found.add("repeat")
            if any(type(getattr(b, "handle", None)) is Nudge for b in op.body):
                found.add("nudge")
        elif type(getattr(op, "handle", None)) is Nudge:
            found.add("nudge")
    return frozenset(found)


def within_calls(program: Program, max_calls: int) -> Program:
    """``program`` cut to make at most ``max_calls`` calls (init and epilogue aside):
    each repeat runs at most as many iterations as the calls left allow, and the ops
    from the first one that no longer fits are dropped (handle numbering is unchanged:
    operands only name earlier ops). For inputs of arbitrary bytes, whose repeats may
    run 2^21 calls."""
    ops: list[Op] = []
    left = max_calls
    for op in program.ops:
        if type(op) is Repeat:
            count = min(op.count, left // len(op.body))
            if count < 1:
                break
            op = op if count == op.count else Repeat(count, op.body)
        cost = 2 if type(op) is Restart else op.calls if type(op) is Repeat else 1
        if cost > left:
            break
        ops.append(op)
        left -= cost
    return program if ops == list(program.ops) else Program(program.config, tuple(ops))


def _validate_op(op: Op, produced: int, position: int | str, *, extended: bool = False) -> None:
    """Check one op against the ``produced`` handle indices before it. ``extended``:
    allow the forms only sequential programs run (Nudge operands, Restart, Repeat);
    a concurrent program's setup is run by the native runner without them."""
    where = f"op {position} ({op_name(op)})"
    handle = getattr(op, "handle", None)
    if not extended and (isinstance(op, (Restart, Repeat)) or isinstance(handle, Nudge)):
        what = f"{handle} (a nudged handle)" if isinstance(handle, Nudge) else op_name(op)
        raise ValueError(f"{where}: {what} is for sequential programs only")
    if isinstance(op, Repeat):
        _validate_repeat(op, produced, position)
        return
    if getattr(op, "via", None) not in VIAS:
        raise ValueError(f"{where}: via must be one of {VIAS}, got {op.via!r}")
    if isinstance(handle, (Ref, Tweak, Nudge)) and not 0 <= handle.index < produced:
        raise ValueError(f"{where}: h{handle.index} names no earlier create/snapshot (there are {produced})")
    if isinstance(handle, Raw) and not 0 <= handle.value <= U64_MAX:
        raise ValueError(f"{where}: raw handle does not fit in 64 bits")
    if isinstance(handle, Tweak) and not 0 <= handle.mask <= U64_MAX:
        raise ValueError(f"{where}: mask does not fit in 64 bits")
    if isinstance(handle, Nudge) and not (handle.delta and -MAX_NUDGE <= handle.delta <= MAX_NUDGE):
        raise ValueError(f"{where}: a nudge moves by a nonzero delta of at most {MAX_NUDGE} either way, got {handle.delta}")
    for name in ("size", "offset"):
        value = getattr(op, name, 0)
        if not 0 <= value <= U64_MAX:
            raise ValueError(f"{where}: {name} does not fit in 64 bits")
    if isinstance(op, Write) and len(op.data) > MAX_WRITE_LEN:
        raise ValueError(f"{where}: data longer than {MAX_WRITE_LEN} bytes")
    if isinstance(op, Read) and not 0 <= op.length <= MAX_READ_LEN:
        raise ValueError(f"{where}: length must be 0..{MAX_READ_LEN}")


def _validate_repeat(op: Repeat, produced: int, position: int | str) -> None:
    where = f"op {position} (repeat)"
    if not 1 <= op.count <= MAX_REPEAT:
        raise ValueError(f"{where}: count must be 1..{MAX_REPEAT}, got {op.count}")
    if not isinstance(op.body, tuple) or not 1 <= len(op.body) <= MAX_REPEAT_BODY:
        raise ValueError(f"{where}: the body must be a tuple of 1..{MAX_REPEAT_BODY} ops")
    if op.calls > MAX_REPEAT_CALLS:
        raise ValueError(f"{where}: {op.count} x {len(op.body)} ops is more than {MAX_REPEAT_CALLS} calls")
    for j, body_op in enumerate(op.body):
        if isinstance(body_op, (Restart, Repeat)):
            raise ValueError(f"{where}: a repeat body holds ordinary ops, not {op_name(body_op)} (body op {j})")
        _validate_op(body_op, produced, f"{position}.{j}", extended=True)
        produced += body_op.produces_handle


# --------------------------------------------------------------------------- byte encoding
#
# Layout: one config byte, an optional capacity extension, then operations until the
# bytes run out. Reading past the end yields zeros, and every field is reduced into
# its range, so any byte string is a valid program. Numbers use a small prefix code
# that favours small values: tag < 0xF0 is the value itself; 0xF0-0xF7: 2 more
# bytes; 0xF8-0xFB: 4; 0xFC-0xFF: 8 (little endian).
#
#   config byte c: capacity = 1 + (c & 15); strategy class = (c >> 4) & 1;
#                  limit tier = c >> 5 (LIMIT_TIERS)
#   capacity extension (only right after the config byte): 0xFF, then hi:number;
#                  capacity = 1 + ((hi << 4 | (c & 15)) mod MAX_CAPACITY)
#   op: opcode byte b:
#     27 -> restart                28 -> repeat (see below)
#     otherwise the op is b % 9 (as in v1 corpora), the runtime selector
#       VIAS[(b // 9) % 3] (0 = None, the default runtime; stats/quiesce: always None),
#       then per op:
#     create   size:number
#     acquire/release/snapshot/info   handle
#     write    handle offset:number n:byte(mod 257) data:n bytes
#     read     handle offset:number length:number(mod MAX_READ_LEN+1)
#   repeat: count:number (count = 1 + number mod MAX_REPEAT), n:byte (1 + n mod
#       MAX_REPEAT_BODY ops), then the body's ops, read as above except that 27 and
#       28 are plain opcode bytes there (b % 9: create, acquire). The body ends early
#       when the bytes run out (a repeat with no body op is dropped) and the count is
#       then lowered to at most MAX_REPEAT_CALLS calls.
#   handle: tag byte t, kind t & 3, x = t >> 2:
#     0 -> Ref(x)     1 -> Ref(number)     (index reduced mod producers so far)
#     2 -> Raw(number)
#     3 -> x = 0: Tweak(Ref index:number, mask = 1 << (byte & 63))
#          x > 0: Nudge(Ref index:number, delta = x if x < 32 else x - 64)
#   A Ref/Tweak/Nudge before any create/snapshot becomes Raw(0).
#
# Bytes 27, 28 and 0xFF right after the config byte, and handle tags 3 + 4x with
# x > 0, were never written by the encoder of the forms before: every encoding it
# made decodes as it did.

_RESTART_BYTE = 27
_REPEAT_BYTE = 28
_CAPACITY_BYTE = 0xFF
#: Deltas the byte form can express: the handle tag's 6 spare bits.
NUDGE_BYTE_DELTAS = range(-32, 32)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.data)

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def byte(self) -> int:
        value = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return value

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk + bytes(n - len(chunk))

    def number(self) -> int:
        tag = self.byte()
        if tag < 0xF0:
            return tag
        width = 2 if tag < 0xF8 else 4 if tag < 0xFC else 8
        return int.from_bytes(self.take(width), "little")


def _put_number(out: bytearray, value: int) -> None:
    if value < 0xF0:
        out.append(value)
    elif value < 1 << 16:
        out.append(0xF0)
        out += value.to_bytes(2, "little")
    elif value < 1 << 32:
        out.append(0xF8)
        out += value.to_bytes(4, "little")
    else:
        out.append(0xFC)
        out += value.to_bytes(8, "little")


def _read_handle(r: _Reader, produced: int) -> HandleOperand:
    tag = r.byte()
    kind, x = tag & 3, tag >> 2
    if kind == 2:
        return Raw(r.number())
    if kind == 3:
        index = r.number()
        if x:
            return Nudge(index % produced, x if x < 32 else x - 64) if produced else Raw(0)
        bit = r.byte() & 63
        return Tweak(index % produced, 1 << bit) if produced else Raw(0)
    index = x if kind == 0 else r.number()
    return Ref(index % produced) if produced else Raw(0)


def _read_op(r: _Reader, b: int, produced: int) -> CallOp:
    """The ordinary op of opcode byte ``b`` (27 and 28 included: ``b % 9``)."""
    cls = _OPCODES[b % len(_OPCODES)]
    via = VIAS[(b // len(_OPCODES)) % len(VIAS)]
    if cls is Create:
        return Create(r.number(), via)
    if cls is Write:
        handle = _read_handle(r, produced)
        offset = r.number()
        return Write(handle, offset, r.take(r.byte() % (MAX_WRITE_LEN + 1)), via)
    if cls is Read:
        handle = _read_handle(r, produced)
        offset = r.number()
        return Read(handle, offset, r.number() % (MAX_READ_LEN + 1), via)
    if cls in (Stats, Quiesce):
        return cls()
    return cls(_read_handle(r, produced), via)


def _read_repeat(r: _Reader, produced: int) -> Repeat | None:
    count = 1 + r.number() % MAX_REPEAT
    n = 1 + r.byte() % MAX_REPEAT_BODY
    body: list[CallOp] = []
    while len(body) < n and r.more():
        op = _read_op(r, r.byte(), produced)
        body.append(op)
        produced += op.produces_handle
    if not body:
        return None
    return Repeat(min(count, MAX_REPEAT_CALLS // len(body)), tuple(body))


def decode(data: bytes) -> Program:
    """Decode any byte string into a valid :class:`Program` (total function)."""
    r = _Reader(bytes(data))
    c = r.byte()
    capacity = 1 + (c & 15)
    if r.peek() == _CAPACITY_BYTE:
        r.byte()
        capacity = 1 + ((r.number() << 4 | (c & 15)) % MAX_CAPACITY)
    max_resource, max_total = LIMIT_TIERS[c >> 5]
    config = Config(
        capacity=capacity,
        strategy=STRATEGY_CLASSES[(c >> 4) & 1],
        max_resource_bytes=max_resource,
        max_total_bytes=max_total,
    )
    ops: list[Op] = []
    produced = 0
    while r.more():
        b = r.byte()
        op: Op | None
        if b == _RESTART_BYTE:
            op = Restart()
        elif b == _REPEAT_BYTE:
            op = _read_repeat(r, produced)
            if op is None:
                break
        else:
            op = _read_op(r, b, produced)
        ops.append(op)
        produced += op.produces_handle
    return Program(config, tuple(ops))


def _put_handle(out: bytearray, handle: HandleOperand) -> None:
    if isinstance(handle, Raw):
        out.append(2)
        _put_number(out, handle.value)
    elif isinstance(handle, Tweak):
        if handle.mask.bit_count() != 1:
            raise ValueError(f"the byte encoding only flips one bit; cannot encode mask {handle.mask:#x}")
        out.append(3)
        _put_number(out, handle.index)
        out.append(handle.mask.bit_length() - 1)
    elif isinstance(handle, Nudge):
        if handle.delta not in NUDGE_BYTE_DELTAS:
            raise ValueError(f"the byte encoding nudges by -32..31 only; cannot encode {handle}")
        out.append(3 | (handle.delta % 64) << 2)
        _put_number(out, handle.index)
    elif handle.index < 64:
        out.append(handle.index << 2)
    else:
        out.append(1)
        _put_number(out, handle.index)


def _put_op(out: bytearray, op: Op) -> None:
    if isinstance(op, Restart):
        out.append(_RESTART_BYTE)
        return
    if isinstance(op, Repeat):
        out.append(_REPEAT_BYTE)
        _put_number(out, op.count - 1)
        out.append(len(op.body) - 1)
        for body_op in op.body:
            _put_op(out, body_op)
        return
    out.append(_OPCODES.index(type(op)) + len(_OPCODES) * VIAS.index(getattr(op, "via", None)))
    if isinstance(op, Create):
        _put_number(out, op.size)
    elif isinstance(op, (Stats, Quiesce)):
        pass
    else:
        _put_handle(out, op.handle)
        if isinstance(op, Write):
            _put_number(out, op.offset)
            out.append(len(op.data))
            out += op.data
        elif isinstance(op, Read):
            _put_number(out, op.offset)
            _put_number(out, op.length)


def encode(program: Program) -> bytes:
    """Encode a program so that ``decode(encode(p)) == p``.

    Raises ValueError for a program the byte form cannot express (a config outside
    the limit tiers, a Tweak mask of several bits, a Nudge beyond -32..31).
    """
    cfg = program.config
    tier = (cfg.max_resource_bytes, cfg.max_total_bytes)
    if tier not in LIMIT_TIERS:
        raise ValueError(f"config {cfg} has no byte encoding (its limits are no tier of LIMIT_TIERS)")
    low = (cfg.capacity - 1) & 15
    out = bytearray([(LIMIT_TIERS.index(tier) << 5) | (STRATEGY_CLASSES.index(cfg.strategy) << 4) | low])
    if cfg.capacity > 16:
        out.append(_CAPACITY_BYTE)
        _put_number(out, (cfg.capacity - 1) >> 4)
    for op in program.ops:
        _put_op(out, op)
    return bytes(out)


# --------------------------------------------------------------------------- text form
#
# One line per op; a repeat is a block,
#
#     repeat 70000 {
#       h5 = create 8
#       release h5
#     }
#
# (body lines indented by two spaces; indentation is not significant when parsing),
# or the same on one line with ops separated by ";": ``repeat 70000 { h5 = create 8;
# release h5 }`` (the form of a repeat's one-line label, :func:`op_text`).


def _op_text(op: Op, produced: int) -> str:
    name = op_name(op)
    if isinstance(op, Create):
        return f"h{produced} = create {op.size}"
    if isinstance(op, Snapshot):
        return f"h{produced} = snapshot {op.handle}"
    if isinstance(op, Write):
        return f'write {op.handle} {op.offset} x"{op.data.hex()}"'
    if isinstance(op, Read):
        return f"read {op.handle} {op.offset} {op.length}"
    if isinstance(op, (Stats, Quiesce, Restart)):
        return name
    if isinstance(op, Repeat):
        return f"repeat {op.count} {{ {'; '.join(_body_texts(op, produced))} }}"
    return f"{name} {op.handle}"


def _body_texts(op: Repeat, produced: int) -> list[str]:
    texts = []
    for body_op in op.body:
        texts.append(op_text(body_op, produced))
        produced += body_op.produces_handle
    return texts


def op_text(op: Op, produced: int) -> str:
    """One op in text form on one line; ``produced`` is how many handle indices precede it."""
    via = getattr(op, "via", None)
    return f"{via}: {_op_text(op, produced)}" if via else _op_text(op, produced)


def to_text(program: Program) -> str:
    """The stable, readable text form of a program (ends with a newline)."""
    cfg = program.config
    lines = [
        TEXT_HEADER,
        f"config capacity={cfg.capacity} strategy={cfg.strategy} "
        f"max_resource_bytes={cfg.max_resource_bytes} max_total_bytes={cfg.max_total_bytes}",
    ]
    produced = 0
    for op in program.ops:
        if isinstance(op, Repeat):
            lines.append(f"repeat {op.count} {{")
            lines += [f"  {text}" for text in _body_texts(op, produced)]
            lines.append("}")
        else:
            lines.append(op_text(op, produced))
        produced += op.produces_handle
    return "\n".join(lines) + "\n"


_NUMBER = r"(?:0x[0-9a-fA-F]+|\d+)"
_HANDLE = rf"(?:h\d+(?:[\^+-]{_NUMBER})?|{_NUMBER})"
_LINE_PATTERNS = {
    "create": re.compile(rf"h(\d+) = create ({_NUMBER})"),
    "snapshot": re.compile(rf"h(\d+) = snapshot ({_HANDLE})"),
    "write": re.compile(rf'write ({_HANDLE}) ({_NUMBER}) x"([0-9a-fA-F]*)"'),
    "read": re.compile(rf"read ({_HANDLE}) ({_NUMBER}) ({_NUMBER})"),
    "handle": re.compile(rf"(acquire|release|info) ({_HANDLE})"),
    "bare": re.compile(r"(stats|quiesce)"),
}
_HANDLE_PARTS = re.compile(r"h(\d+)(?:([\^+-])(.+))?")


def _parse_handle(text: str) -> HandleOperand:
    if m := _HANDLE_PARTS.fullmatch(text):
        index, sign, amount = int(m.group(1)), m.group(2), m.group(3)
        if sign is None:
            return Ref(index)
        if sign == "^":
            return Tweak(index, int(amount, 0))
        return Nudge(index, int(amount, 0) * (1 if sign == "+" else -1))
    return Raw(int(text, 0))


_VIA_PREFIX = re.compile(r"(owner|foreign): ?")


def _parse_line(line: str, produced: int) -> CallOp:
    p = _LINE_PATTERNS
    via = None
    if m := _VIA_PREFIX.match(line):
        via, line = m.group(1), line[m.end() :]
    if m := p["create"].fullmatch(line):
        _expect_label(int(m.group(1)), produced)
        return Create(int(m.group(2), 0), via)
    if m := p["snapshot"].fullmatch(line):
        _expect_label(int(m.group(1)), produced)
        return Snapshot(_parse_handle(m.group(2)), via)
    if m := p["write"].fullmatch(line):
        if len(m.group(3)) % 2:
            raise ValueError("write data must be an even number of hex digits")
        return Write(_parse_handle(m.group(1)), int(m.group(2), 0), bytes.fromhex(m.group(3)), via)
    if m := p["read"].fullmatch(line):
        return Read(_parse_handle(m.group(1)), int(m.group(2), 0), int(m.group(3), 0), via)
    if m := p["handle"].fullmatch(line):
        return _BY_NAME[m.group(1)](_parse_handle(m.group(2)), via)
    if m := p["bare"].fullmatch(line):
        if via is not None:
            raise ValueError(f"{m.group(1)} takes no runtime selector (only create and ops on a handle do)")
        return _BY_NAME[m.group(1)]()
    if line == "restart" or _REPEAT_LINE.fullmatch(line):
        raise ValueError(f"{line.split()[0]} cannot stand here (only at the top level of a sequential program)")
    raise ValueError(f"not an operation: {line!r}")


def _expect_label(label: int, produced: int) -> None:
    if label != produced:
        raise ValueError(f"handle label h{label} out of order: the next create/snapshot is h{produced}")


_CONFIG = re.compile(
    rf"config capacity=({_NUMBER}) strategy=(\w+) max_resource_bytes=({_NUMBER}) max_total_bytes=({_NUMBER})"
)
_REPEAT_LINE = re.compile(rf"repeat ({_NUMBER}) \{{(.*)")


class _Block:
    """A ``repeat N {`` block being read: its count, first line, position and body so far."""

    def __init__(self, count: int, lineno: int, produced: int, position: int) -> None:
        self.count, self.lineno, self.produced, self.position = count, lineno, produced, position
        self.body: list[CallOp] = []

    def add(self, line: str) -> None:
        op = _parse_line(line, self.produced)
        _validate_op(op, self.produced, f"{self.position}.{len(self.body)}", extended=True)
        self.body.append(op)
        self.produced += op.produces_handle

    def close(self) -> Repeat:
        if not self.body:
            raise ValueError(f"the repeat block of line {self.lineno} has no op")
        return Repeat(self.count, tuple(self.body))


def parse_text(text: str, source: str = "<program>") -> Program:
    """Parse the text form. Raises :class:`CorruptInput` naming ``source`` and the line."""
    config: Config | None = None
    ops: list[Op] = []
    produced = 0
    lineno = 0
    block: _Block | None = None

    def append(op: Op) -> None:
        nonlocal produced
        _validate_op(op, produced, len(ops), extended=True)
        ops.append(op)
        produced += op.produces_handle

    try:
        for lineno, raw_line in enumerate(text.splitlines(), 1):  # noqa: B007 (the except clause reads it)
            line = " ".join(raw_line.split("#", 1)[0].split())
            if not line:
                continue
            if config is None:
                m = _CONFIG.fullmatch(line)
                if m is None:
                    raise ValueError("expected the config line first: " + _CONFIG.pattern)
                config = Config(int(m.group(1), 0), m.group(2), int(m.group(3), 0), int(m.group(4), 0))
            elif block is not None:
                if line == "}":
                    append(block.close())
                    block = None
                elif line == "restart" or _REPEAT_LINE.fullmatch(line):
                    raise ValueError(f"a repeat body holds ordinary ops: no {line.split()[0]} inside the block of line {block.lineno}")
                else:
                    block.add(line)
            elif line == "restart":
                append(Restart())
            elif m := _REPEAT_LINE.fullmatch(line):
                block = _Block(int(m.group(1), 0), lineno, produced, len(ops))
                rest = m.group(2).strip()
                if rest:  # the one-line form: "repeat N { op; op }"
                    if not rest.endswith("}"):
                        raise ValueError("a repeat line ends with '{' (a block follows) or holds the whole body: 'repeat N { op; op }'")
                    for part in rest[:-1].split(";"):
                        if part.strip():
                            block.add(part.strip())
                    append(block.close())
                    block = None
            elif line == "}":
                raise ValueError("'}' closes no repeat block")
            else:
                append(_parse_line(line, produced))
        lineno = 0
        if config is None:
            raise ValueError("no config line: not a fuzzharness program")
        if block is not None:
            raise ValueError(f"the repeat block of line {block.lineno} is never closed with '}}'")
        return Program(config, tuple(ops))
    except ValueError as exc:
        where = f"{source}:{lineno}" if lineno else source
        raise CorruptInput(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- generation

_INTERESTING_SIZES = (0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 63, 64, 100, 255, 256, 4095, 4096)
_INTERESTING_U64 = (0, 1, 0xFFFF_FFFF, 1 << 32, (1 << 32) + 1, (1 << 63), U64_MAX, U64_MAX - 1)


def _gen_number(rng: random.Random, small: int) -> int:
    roll = rng.random()
    if roll < 0.80:
        return rng.randrange(small + 1)
    if roll < 0.95:
        return rng.choice(_INTERESTING_SIZES)
    if roll < 0.98:
        return rng.choice(_INTERESTING_U64)
    return rng.getrandbits(64)


def _gen_handle(rng: random.Random, produced: int) -> HandleOperand:
    roll = rng.random()
    if produced and roll < 0.88:
        # Prefer recent handles: that is where the interesting lifetimes are.
        index = produced - 1 - min(int(rng.expovariate(0.5)), produced - 1)
        return Ref(index)
    if produced and roll < 0.95:
        bit = rng.choice((0, 1, 2, 32, 33, 40, 63))
        return Tweak(rng.randrange(produced), 1 << bit)
    return Raw(rng.choice(_INTERESTING_U64 + (rng.getrandbits(64), (1 << 32) | rng.randrange(16))))


def _gen_data(rng: random.Random) -> bytes:
    n = rng.choice((0, 1, 2, 3, 4, 5, 8, 16, 32)) if rng.random() < 0.9 else rng.randrange(MAX_WRITE_LEN + 1)
    if rng.random() < 0.5:
        return bytes([rng.randrange(256)]) * n
    return rng.randbytes(n)


#: Relative weights of the op kinds in generated programs.
_WEIGHTS = {Create: 14, Acquire: 10, Release: 16, Write: 18, Read: 18, Snapshot: 8, Info: 6, Stats: 6, Quiesce: 4}
_KINDS = list(_WEIGHTS)
_KIND_WEIGHTS = list(_WEIGHTS.values())

#: Shares of generated programs with a ``restart``, with a short ``repeat`` block (2..64
#: iterations), and with a long-lifetime block: one slot reused 33,000..70,000 times,
#: or a table of 2^12..2^LONG_FILL_LOG2 slots filled. A long block makes ~70,000 calls
#: on average, and each call costs the lane ~25 us (the model, each target through
#: the interpreter, the comparison; measured on the 2-core machine): ~1.8 s, where an
#: ordinary program costs ~1.4 ms. At one program in 10,000 the long blocks take about
#: a tenth of a run's time.
RESTART_RATE = 0.03
REPEAT_RATE = 0.03
LONG_REPEAT_RATE = 0.0001
#: The largest table a generated program fills is 2^LONG_FILL_LOG2 slots: a fill of
#: 2^20 took 6-20 s per target under load (measured), past the workers' default
#: per-program timeout of 10 s, so it would be reported as a hang. Programs written
#: by hand may use the contract's whole 2^20.
LONG_FILL_LOG2 = 17
#: Share of the operands naming an earlier handle (``hK``) that become a nudge ``hK+d``.
NUDGE_RATE = 0.04
#: Nudge deltas: neighbours one or a few steps away, and aligned ones (a pointer's).
_NUDGE_DELTAS = (1, -1, 1, -1, 2, -2, 3, 4, -4, 8, -8, 16, -16)


def _gen_op(rng: random.Random, produced: int, sizes: list[int]) -> CallOp:
    """One random contract call over ``produced`` earlier handles (``sizes``: their
    sizes, appended to for a producer)."""
    cls = rng.choices(_KINDS, _KIND_WEIGHTS)[0]
    if cls is not Create and cls not in (Stats, Quiesce) and not produced:
        cls = Create
    if cls is Create:
        size = _gen_number(rng, 64)
        sizes.append(size)
        return Create(size)
    if cls in (Stats, Quiesce):
        return cls()
    handle = _gen_handle(rng, produced)
    size = sizes[handle.index] if isinstance(handle, Ref) else 64
    if cls is Write:
        data = _gen_data(rng)
        return Write(handle, _gen_offset(rng, size, len(data)), data)
    if cls is Read:
        length = min(_gen_number(rng, 16), MAX_READ_LEN)
        return Read(handle, _gen_offset(rng, size, length), length)
    if cls is Snapshot:
        sizes.append(size)
    return cls(handle)


def generate(rng: random.Random, max_ops: int = 48, via_rate: float = 0.0) -> Program:
    """A random program biased toward interesting lifetimes: reuse of slots, stale and
    forged handles, boundary offsets and sizes, exhaustion of small capacities.

    A fraction ``via_rate`` (``fuzz`` uses 0.3 when a cross-runtime pair is among its
    targets, else 0) of the ops that take one get an explicit runtime selector
    (``owner`` or ``foreign``), so a cross-runtime target sees calls interleaved through
    both runtimes on the same handles (single-runtime targets ignore it). The selector
    are drawn after the whole program from a generator of their own, so the ops of a
    seed are those of ``via_rate=0`` (and of the generator before selectors existed),
    repeat bodies included.

    Then, from another generator of their own, the long-lifetime forms: nudged operands
    (:data:`NUDGE_RATE`), a ``restart`` (:data:`RESTART_RATE` of programs), a short
    ``repeat`` block (:data:`REPEAT_RATE`) or a long one (:data:`LONG_REPEAT_RATE`). A
    program that draws none of them is the one the generator made before they existed;
    ``max_ops`` bounds the top-level ops (a block is one). The same ``rng`` state always
    gives the same program."""
    tier = rng.choice(LIMIT_TIERS[:6]) if rng.random() < 0.3 else LIMIT_TIERS[0]
    config = Config(
        capacity=rng.choice((1, 2, 3, 4, 4, 8, 8, 16)),
        strategy=rng.choice(STRATEGY_CLASSES),
        max_resource_bytes=tier[0],
        max_total_bytes=tier[1],
    )
    ops: list[Op] = []
    produced = 0
    sizes: list[int] = []
    for _ in range(rng.randrange(1, max_ops + 1)):
        op = _gen_op(rng, produced, sizes)
        ops.append(op)
        produced += op.produces_handle
    via_seed, ext_seed = rng.getrandbits(64), rng.getrandbits(64)  # drawn whatever via_rate is
    if via_rate:
        via_rng = random.Random(via_seed)
        ops = [with_via(op, via_rng.choice(VIAS[1:])) if hasattr(op, "via") and via_rng.random() < via_rate else op
               for op in ops]  # fmt: skip
    ext = random.Random(ext_seed)
    ops = [_nudged(ext, op) for op in ops]
    roll = ext.random()
    if roll < LONG_REPEAT_RATE:
        config, ops = _add_long_repeat(ext, config, ops)
    elif roll < LONG_REPEAT_RATE + REPEAT_RATE:
        ops = _add_short_repeat(ext, config, ops, sizes, via_rate)
    if ext.random() < RESTART_RATE:
        ops.insert(ext.randrange(1, len(ops) + 1), Restart())
    return Program(config, tuple(ops))


def _nudged(rng: random.Random, op: Op) -> Op:
    handle = getattr(op, "handle", None)
    if isinstance(handle, Ref) and rng.random() < NUDGE_RATE:
        return dataclasses.replace(op, handle=Nudge(handle.index, rng.choice(_NUDGE_DELTAS)))
    return op


def _add_short_repeat(rng: random.Random, config: Config, ops: list[Op], sizes: list[int], via_rate: float) -> list[Op]:
    """``ops`` with a block of 2..64 iterations inserted at a random position: a create
    and release cycle (slot reuse), table exhaustion, reference churn or random ops."""
    position = rng.randrange(len(ops) + 1)
    first = sum(op.produces_handle for op in ops[:position])  # the body's first handle index
    shape = rng.choice(("cycle", "cycle", "fill", "churn", "random", "random"))
    count = rng.choice((2, 3, 4, 8, 16, 17, 32, 33, 64)) if rng.random() < 0.7 else rng.randrange(2, 65)
    body: list[CallOp]
    if shape == "fill":
        body, count = [Create(rng.choice((0, 1, 8)))], config.capacity + 1
    elif shape == "churn" and first:
        k = first - 1 - min(int(rng.expovariate(0.5)), first - 1)
        body = rng.choice(([Acquire(Ref(k)), Release(Ref(k))], [Snapshot(Ref(k)), Release(Ref(first))], [Acquire(Ref(k))]))
    elif shape == "random":
        body_sizes = sizes[:first]
        body = []
        for _ in range(rng.randint(1, 4)):
            op = _gen_op(rng, len(body_sizes), body_sizes)  # sizes[k]: the size of hK
            body.append(_nudged(rng, op))
    else:  # a cycle: the same slot reused every iteration
        size = rng.choice((0, 1, 8, 16, 64))
        body = [Create(size)]
        if rng.random() < 0.5:
            body.append(Write(Ref(first), 0, rng.randbytes(min(size, rng.choice((1, 4, 8))))))
        body.append(Release(Ref(first)))
    rolls = [(rng.random(), rng.choice(VIAS[1:])) for _ in body]  # drawn whatever via_rate is
    body = [with_via(op, via) if hasattr(op, "via") and roll < via_rate else op for op, (roll, via) in zip(body, rolls)]
    block = Repeat(count, tuple(body))
    return ops[:position] + [block] + _shifted(ops[position:], first, block.produces_handle)


def generate_long_lifetime(rng: random.Random, max_ops: int = 48, via_rate: float = 0.0) -> Program:
    """A program with a long-lifetime block for sure: two times in three one slot reused
    33,000..70,000 times (a 16-bit version wraps: ABA), else a table filled past its
    capacity. For fuzzers that schedule long lifetimes by time rather than by chance
    (a long block costs ~1 s to run and check: too much for every program, too rare
    at :data:`LONG_REPEAT_RATE` to be found in a minute)."""
    base = generate(rng, max_ops, via_rate)
    config, ops = _add_long_repeat(rng, base.config, list(base.ops), cycle=rng.random() < 2 / 3)
    return Program(config, tuple(ops))


def _add_long_repeat(rng: random.Random, config: Config, ops: list[Op],
                     cycle: bool | None = None) -> tuple[Config, list[Op]]:  # fmt: skip
    """A long-lifetime block: one slot reused 33,000..70,000 times (past 2^15 and 2^16
    generations), then its last, dead handle used; or a table of 2^12..2^LONG_FILL_LOG2
    slots filled to one past its capacity (the config grows to hold it). ``cycle``
    chooses the shape (None: a coin toss)."""
    position = rng.randrange(len(ops) + 1)
    first = sum(op.produces_handle for op in ops[:position])
    if (rng.random() < 0.5) if cycle is None else cycle:
        block = Repeat(rng.randrange(33_000, 70_001), (Create(rng.choice((0, 1, 8))), Release(Ref(first))))
        tail: list[Op] = [rng.choice((Acquire, Release, Info))(Ref(first))]
    else:
        capacity = 1 << rng.randrange(12, LONG_FILL_LOG2 + 1)
        config = Config(capacity, config.strategy, *LIMIT_TIERS[3])  # 2^20 resources of 8 bytes fit in 2^24
        block = Repeat(min(capacity + 1, MAX_REPEAT), (Create(8),))
        tail = [Create(8)] if capacity + 1 > MAX_REPEAT else []
    moved = block.produces_handle + sum(op.produces_handle for op in tail)
    return config, ops[:position] + [block, *tail] + _shifted(ops[position:], first, moved)


def _shifted(ops: list[Op], first: int, by: int) -> list[Op]:
    """``ops`` with every handle index >= ``first`` moved up by ``by`` (handles were
    inserted before them)."""
    if not by:
        return ops
    out = []
    for op in ops:
        if isinstance(op, Repeat):
            op = Repeat(op.count, tuple(_shifted(list(op.body), first, by)))
        else:
            handle = getattr(op, "handle", None)
            if hasattr(handle, "index") and handle.index >= first:
                op = dataclasses.replace(op, handle=dataclasses.replace(handle, index=handle.index + by))
        out.append(op)
    return out


def with_via(op: Op, via: Via) -> Op:
    """``op`` run through the runtime ``via`` (None: the default runtime)."""
    if not hasattr(op, "via"):
        raise ValueError(f"{op_name(op)} takes no runtime selector")
    return dataclasses.replace(op, via=via)


def _gen_offset(rng: random.Random, size: int, length: int) -> int:
    roll = rng.random()
    if roll < 0.7:
        return rng.randrange(max(size - length, 0) + 1)
    if roll < 0.9:
        return min(max(size - length + rng.choice((-1, 0, 1, 2)), 0), U64_MAX)
    return rng.choice(_INTERESTING_U64)
