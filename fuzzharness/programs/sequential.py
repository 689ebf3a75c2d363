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

The three forms:

* the in-memory form (these frozen dataclasses);
* a compact byte encoding (:func:`decode` / :func:`encode`). ``decode`` is total:
  EVERY byte string decodes to a valid program, so coverage-guided fuzzers can
  mutate bytes freely; ``decode(encode(p)) == p`` for every valid program;
* a readable, stable text form (:func:`to_text` / :func:`parse_text`) for saved
  findings, which a person can read and edit; ``parse_text(to_text(p)) == p``.
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass, field
from typing import Optional, Union

from fuzzharness.contract.header import U64_MAX
from fuzzharness.contract.values import MAX_READ_LEN, MAX_WRITE_LEN
from fuzzharness.errors import CorruptInput

__all__ = [
    "Ref",
    "Raw",
    "Tweak",
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


HandleOperand = Union[Ref, Raw, Tweak]


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


Op = Union[Create, Acquire, Release, Write, Read, Snapshot, Info, Stats, Quiesce]

#: Opcode order of the byte encoding. Never reorder: saved byte corpora depend on it.
_OPCODES: tuple[type, ...] = (Create, Acquire, Release, Write, Read, Snapshot, Info, Stats, Quiesce)
_OPNAME = {cls: cls.__name__.lower() for cls in _OPCODES}
_BY_NAME = {name: cls for cls, name in _OPNAME.items()}


def op_name(op: Op) -> str:
    """The contract-level name of an op: ``create``, ``write``, ..."""
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
        if not 1 <= self.capacity <= 256:
            raise ValueError(f"capacity must be 1..256 in a program, got {self.capacity}")
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
            _validate_op(op, produced, position)
            produced += op.produces_handle

    def __len__(self) -> int:
        return len(self.ops)

    @property
    def handle_producers(self) -> int:
        return sum(op.produces_handle for op in self.ops)


def _validate_op(op: Op, produced: int, position: int) -> None:
    where = f"op {position} ({op_name(op)})"
    if getattr(op, "via", None) not in VIAS:
        raise ValueError(f"{where}: via must be one of {VIAS}, got {op.via!r}")
    handle = getattr(op, "handle", None)
    if isinstance(handle, (Ref, Tweak)) and not 0 <= handle.index < produced:
        raise ValueError(f"{where}: h{handle.index} names no earlier create/snapshot (there are {produced})")
    if isinstance(handle, Raw) and not 0 <= handle.value <= U64_MAX:
        raise ValueError(f"{where}: raw handle does not fit in 64 bits")
    if isinstance(handle, Tweak) and not 0 <= handle.mask <= U64_MAX:
        raise ValueError(f"{where}: mask does not fit in 64 bits")
    for name in ("size", "offset"):
        value = getattr(op, name, 0)
        if not 0 <= value <= U64_MAX:
            raise ValueError(f"{where}: {name} does not fit in 64 bits")
    if isinstance(op, Write) and len(op.data) > MAX_WRITE_LEN:
        raise ValueError(f"{where}: data longer than {MAX_WRITE_LEN} bytes")
    if isinstance(op, Read) and not 0 <= op.length <= MAX_READ_LEN:
        raise ValueError(f"{where}: length must be 0..{MAX_READ_LEN}")


# --------------------------------------------------------------------------- byte encoding
#
# Layout: one config byte, then operations until the bytes run out. Reading past
# the end yields zeros, and every field is reduced into its range, so any byte
# string is a valid program. Numbers use a small prefix code that favours small
# values: tag < 0xF0 is the value itself; 0xF0-0xF7: 2 more bytes; 0xF8-0xFB: 4;
# 0xFC-0xFF: 8 (little endian).
#
#   config byte c: capacity = 1 + (c & 15); strategy class = (c >> 4) & 1;
#                  limit tier = c >> 5 (LIMIT_TIERS)
#   op: opcode byte b: the op is b % 9 (as in v1 corpora), the runtime selector
#       VIAS[(b // 9) % 3] (0 = None, the default runtime; stats/quiesce: always None),
#       then per op:
#     create   size:number
#     acquire/release/snapshot/info   handle
#     write    handle offset:number n:byte(mod 257) data:n bytes
#     read     handle offset:number length:number(mod MAX_READ_LEN+1)
#   handle: tag byte t, kind t & 3:
#     0 -> Ref(t >> 2)     1 -> Ref(number)     (index reduced mod producers so far)
#     2 -> Raw(number)     3 -> Tweak(Ref index:number, mask = 1 << (byte & 63))
#   A Ref/Tweak before any create/snapshot becomes Raw(0).


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.data)

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
    kind = tag & 3
    if kind == 2:
        return Raw(r.number())
    if kind == 3:
        index, bit = r.number(), r.byte() & 63
        return Tweak(index % produced, 1 << bit) if produced else Raw(0)
    index = tag >> 2 if kind == 0 else r.number()
    return Ref(index % produced) if produced else Raw(0)


def decode(data: bytes) -> Program:
    """Decode any byte string into a valid :class:`Program` (total function)."""
    r = _Reader(bytes(data))
    c = r.byte()
    max_resource, max_total = LIMIT_TIERS[c >> 5]
    config = Config(
        capacity=1 + (c & 15),
        strategy=STRATEGY_CLASSES[(c >> 4) & 1],
        max_resource_bytes=max_resource,
        max_total_bytes=max_total,
    )
    ops: list[Op] = []
    produced = 0
    while r.more():
        b = r.byte()
        cls = _OPCODES[b % len(_OPCODES)]
        via = VIAS[(b // len(_OPCODES)) % len(VIAS)]
        op: Op
        if cls is Create:
            op = Create(r.number(), via)
        elif cls is Write:
            handle = _read_handle(r, produced)
            offset = r.number()
            op = Write(handle, offset, r.take(r.byte() % (MAX_WRITE_LEN + 1)), via)
        elif cls is Read:
            handle = _read_handle(r, produced)
            offset = r.number()
            op = Read(handle, offset, r.number() % (MAX_READ_LEN + 1), via)
        elif cls in (Stats, Quiesce):
            op = cls()
        else:
            op = cls(_read_handle(r, produced), via)
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
    elif handle.index < 64:
        out.append(handle.index << 2)
    else:
        out.append(1)
        _put_number(out, handle.index)


def encode(program: Program) -> bytes:
    """Encode a program so that ``decode(encode(p)) == p``.

    Raises ValueError for a program the byte form cannot express (a config outside
    the limit tiers, a capacity above 16, a Tweak mask of several bits).
    """
    cfg = program.config
    tier = (cfg.max_resource_bytes, cfg.max_total_bytes)
    if tier not in LIMIT_TIERS or not 1 <= cfg.capacity <= 16:
        raise ValueError(f"config {cfg} has no byte encoding")
    out = bytearray([(LIMIT_TIERS.index(tier) << 5) | (STRATEGY_CLASSES.index(cfg.strategy) << 4) | (cfg.capacity - 1)])
    for op in program.ops:
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
    return bytes(out)


# --------------------------------------------------------------------------- text form


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
    if isinstance(op, (Stats, Quiesce)):
        return name
    return f"{name} {op.handle}"


def op_text(op: Op, produced: int) -> str:
    """One op in text form; ``produced`` is how many handle producers precede it."""
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
        lines.append(op_text(op, produced))
        produced += op.produces_handle
    return "\n".join(lines) + "\n"


_NUMBER = r"(?:0x[0-9a-fA-F]+|\d+)"
_HANDLE = rf"(?:h\d+(?:\^{_NUMBER})?|{_NUMBER})"
_LINE_PATTERNS = {
    "create": re.compile(rf"h(\d+) = create ({_NUMBER})"),
    "snapshot": re.compile(rf"h(\d+) = snapshot ({_HANDLE})"),
    "write": re.compile(rf'write ({_HANDLE}) ({_NUMBER}) x"([0-9a-fA-F]*)"'),
    "read": re.compile(rf"read ({_HANDLE}) ({_NUMBER}) ({_NUMBER})"),
    "handle": re.compile(rf"(acquire|release|info) ({_HANDLE})"),
    "bare": re.compile(r"(stats|quiesce)"),
}


def _parse_handle(text: str) -> HandleOperand:
    if text.startswith("h"):
        index, _, mask = text[1:].partition("^")
        return Tweak(int(index), int(mask, 0)) if mask else Ref(int(index))
    return Raw(int(text, 0))


_VIA_PREFIX = re.compile(r"(owner|foreign): ?")


def _parse_line(line: str, produced: int) -> Op:
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
    raise ValueError(f"not an operation: {line!r}")


def _expect_label(label: int, produced: int) -> None:
    if label != produced:
        raise ValueError(f"handle label h{label} out of order: the next create/snapshot is h{produced}")


_CONFIG = re.compile(
    rf"config capacity=({_NUMBER}) strategy=(\w+) max_resource_bytes=({_NUMBER}) max_total_bytes=({_NUMBER})"
)


def parse_text(text: str, source: str = "<program>") -> Program:
    """Parse the text form. Raises :class:`CorruptInput` naming ``source`` and the line."""
    config: Config | None = None
    ops: list[Op] = []
    produced = 0
    lineno = 0
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
                continue
            op = _parse_line(line, produced)
            _validate_op(op, produced, len(ops))
            ops.append(op)
            produced += op.produces_handle
        lineno = 0
        if config is None:
            raise ValueError("no config line: not a fuzzharness program")
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


def generate(rng: random.Random, max_ops: int = 48, via_rate: float = 0.0) -> Program:
    """A random program biased toward interesting lifetimes: reuse of slots, stale and
    forged handles, boundary offsets and sizes, exhaustion of small capacities.

    A fraction ``via_rate`` (``fuzz`` uses 0.3 when a cross-runtime pair is among its
    targets, else 0) of the ops that take one get an explicit runtime selector
    (``owner`` or ``foreign``), so a cross-runtime target sees calls interleaved through
    both runtimes on the same handles (single-runtime targets ignore it). The selector
    are drawn after the whole program from a generator of their own, so the ops of a
    seed are those of ``via_rate=0`` (and of the generator before selectors existed)."""
    tier = rng.choice(LIMIT_TIERS[:6]) if rng.random() < 0.3 else LIMIT_TIERS[0]
    config = Config(
        capacity=rng.choice((1, 2, 3, 4, 4, 8, 8, 16)),
        strategy=rng.choice(STRATEGY_CLASSES),
        max_resource_bytes=tier[0],
        max_total_bytes=tier[1],
    )
    kinds = list(_WEIGHTS)
    weights = list(_WEIGHTS.values())
    ops: list[Op] = []
    produced = 0
    sizes: list[int] = []
    for _ in range(rng.randrange(1, max_ops + 1)):
        cls = rng.choices(kinds, weights)[0]
        if cls is not Create and cls not in (Stats, Quiesce) and not produced:
            cls = Create
        op: Op
        if cls is Create:
            size = _gen_number(rng, 64)
            op = Create(size)
            sizes.append(size)
        elif cls in (Stats, Quiesce):
            op = cls()
        else:
            handle = _gen_handle(rng, produced)
            size = sizes[handle.index] if isinstance(handle, Ref) else 64
            if cls is Write:
                data = _gen_data(rng)
                op = Write(handle, _gen_offset(rng, size, len(data)), data)
            elif cls is Read:
                length = min(_gen_number(rng, 16), MAX_READ_LEN)
                op = Read(handle, _gen_offset(rng, size, length), length)
            else:
                op = cls(handle)
                if cls is Snapshot:
                    sizes.append(size)
        ops.append(op)
        produced += op.produces_handle
    if via_rate:
        via_rng = random.Random(rng.getrandbits(64))
        ops = [with_via(op, via_rng.choice(VIAS[1:])) if hasattr(op, "via") and via_rng.random() < via_rate else op
               for op in ops]  # fmt: skip
    return Program(config, tuple(ops))


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
