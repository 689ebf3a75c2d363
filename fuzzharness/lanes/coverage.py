"""The coverage-guided lane: libFuzzer (through atheris) over coverage-instrumented targets.

The random lane (:mod:`fuzzharness.lanes.fuzz`) generates programs; this lane lets libFuzzer
mutate the *byte encoding* of programs (:func:`fuzzharness.programs.sequential.decode` turns every
byte string into a valid program) and keeps every input that reaches new code of the
targets, so a bug behind a chain of comparisons (a 4-byte magic value) is reached byte
by byte where random generation would have to guess all of it at once.

How it runs::

    harness (run_lane) ──subprocess──► lane process          python, via a small wrapper script
      restarts it after a crash,         faulthandler, import atheris, libFuzzer RTLD_GLOBAL,
      replays every saved input          the instrumented libraries (_native.Library),
      through the normal workers         atheris.Setup(argv, test_one_input) / Fuzz()

* libFuzzer mutates through a structure-aware custom mutator
  (:func:`_structure_aware_mutator`): most mutations decode the program and hand the
  data of a write expected to succeed (:func:`live_writes`) to libFuzzer's own mutator,
  which splices in the comparison operands the targets traced; others insert, delete
  or duplicate ops. atheris' ``custom_mutator`` module is made global before libFuzzer
  (see :func:`lane_main`), and ``run_lane`` reports an error if libFuzzer ran without it.
* The harness process never imports atheris nor loads a target. The lane process loads
  every selected target's ``coverage_of`` build variant (``cov``, ``mutants-cov``: see
  targets/registry.toml) into one process, so each input runs on all of them and is
  checked against the model and between targets (:func:`differential.check_program`).
* A native crash kills the lane process (the Go runtime and faulthandler handle SIGSEGV
  before libFuzzer could), so libFuzzer's own crash artifact cannot be relied on. Each
  input is therefore copied, before it runs, into a small shared file (exec counter,
  length, bytes) that the harness reads after the process died: the crashing input is
  never lost. The harness then restarts libFuzzer on the same corpus with the time left,
  so a crash costs one restart, not the lane. libFuzzer's own artifacts (``timeout-*``,
  ``crash-*`` for an exception in the lane) are collected too.
* A divergence is not a crash: ``test_one_input`` saves the input as a ``divergent-*``
  artifact (once per divergence signature) and lets libFuzzer go on.
* Every artifact is decoded and replayed on the uninstrumented twin variant
  (``coverage_of``: ``release`` or ``mutants``) through the usual workers and
  :func:`triage.findings_for`, so its kind and signature are those of any other finding,
  and it is saved with :func:`findings.save`: ``fuzzharness repro`` replays it as usual.
* The corpus directory is libFuzzer's queue: inputs that increase coverage are added to
  it; :func:`minimize_corpus` runs ``-merge=1`` to keep a minimal covering subset.
  An empty corpus is seeded with the byte encodings of a few generated programs.

Figures in the result: ``execs`` (inputs run, counted by the lane process itself),
``coverage`` (libFuzzer's last ``cov:`` figure: covered edges/counters), ``corpus_added``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import mmap
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from fuzzharness.contract.bindings import libfuzzer_path
from fuzzharness.contract.header import PROJECT_ROOT
from fuzzharness.errors import FuzzHarnessError, InvalidArgument, MissingToolchain
from fuzzharness.execution.environment import decide

__all__ = ["run_lane", "minimize_corpus", "custom_mutator_path", "live_writes", "coverage_mode",
           "lane_main", "DEFAULT_CORPUS"]  # fmt: skip

DEFAULT_CORPUS = Path("corpus/queue")
#: Environment variable carrying the lane configuration (JSON) into the lane process
#: and into the children libFuzzer spawns for ``-merge=1``.
_CONFIG_ENV = "FUZZHARNESS_COVERAGE_LANE"
#: Longest input libFuzzer generates: a program of a few dozen ops (the model's cost
#: grows with it, and shorter inputs keep mutations on the bytes that matter).
MAX_LEN = 64
#: Layout of the shared state file: execs (u64), length of the current input (u32), pad, bytes.
_STATE = struct.Struct("<QI4x")
_STATE_SIZE = _STATE.size + MAX_LEN
_COV = re.compile(r"\bcov: (\d+)")
_SEED_PROGRAMS = 16
#: Programs whose session may hold more bytes than this are skipped (not run, so never
#: kept): the byte encoding's largest limit tier allows gigabyte resources, which measure
#: the allocator, not the contract, and turn into timeouts and out-of-memory kills. The
#: random generator never produces that tier either.
LANE_MAX_TOTAL_BYTES = 1 << 24
#: Programs that make more calls than this are skipped too: a ``repeat`` of the byte
#: form may run up to 2^21 calls, seconds of the model's time for one input, where the
#: lane wants thousands of inputs a second (long lifetimes are the random lane's).
LANE_MAX_CALLS = 4096


def custom_mutator_path() -> Path:
    """atheris' ``custom_mutator*.so``: the module that defines ``LLVMFuzzerCustomMutator``."""
    core = libfuzzer_path()
    found = sorted(core.parent.glob("custom_mutator*.so"))
    if not found:
        raise MissingToolchain(f"atheris in {core.parent} has no custom_mutator*.so: reinstall it (pip install 'atheris>=2.3,<4')")
    return found[0]


# =========================================================================== lane process


def lane_main(argv: list[str]) -> int:
    """The lane process: run libFuzzer over the configured libraries (never the harness).

    ``argv`` goes to libFuzzer as is; ``argv[0]`` must be an executable that runs this
    again (the wrapper script), since ``-merge=1`` spawns children through it.
    """
    import faulthandler
    import gc

    faulthandler.enable(all_threads=True)  # before the Go runtime loads (TOOLCHAIN-FACTS)
    # Every exec allocates (programs, bytes, traces) and nothing of it forms cycles: the
    # cyclic collector, run every 700 allocations by default, took ~15% of the lane
    # (profiled); it runs far more rarely here, over a frozen start-up heap.
    gc.set_threshold(*LANE_GC_THRESHOLD)
    config = json.loads(os.environ[_CONFIG_ENV])
    import atheris

    from fuzzharness.contract.bindings import Library, NativeRunner, preload_global
    from fuzzharness.oracles.differential import check_program
    from fuzzharness.oracles.fastmodel import accepts, predict
    from fuzzharness.programs.interpreter import encode_native, run_encoded, run_program, run_unchecked, unpack
    from fuzzharness.programs.sequential import decode

    # atheris' LLVMFuzzerCustomMutator lives in a module of its own, which libFuzzer looks
    # up by name when it starts: it must be global before libFuzzer is, or libFuzzer
    # silently runs without the structure-aware mutator (measured: never called).
    preload_global(custom_mutator_path())
    preload_global(libfuzzer_path())
    libraries = []
    for target in config["targets"]:
        library = Library(target["library"], with_testing=target["testing"])
        if config["mutant"]:
            status = library.set_mutant(config["mutant"])
            if status != 0:
                raise RuntimeError(f"fh_test_set_mutant({config['mutant']}) returned status {status} on {target['name']}")
        libraries.append((target["name"], library, target["deferred"], NativeRunner(library)))

    artifacts = Path(config["artifacts"])
    state_file = open(config["state"], "r+b")
    state = mmap.mmap(state_file.fileno(), _STATE_SIZE)
    seen: set[tuple[str, ...]] = set()
    decoded: dict[bytes, Any] = {}  # the mutator's outputs, already programs: not decoded again
    execs = 0
    pack_into = _STATE.pack_into
    header = _STATE.size

    def test_one_input(data: bytes) -> None:
        nonlocal execs
        execs += 1
        data = data[:MAX_LEN]
        pack_into(state, 0, execs, len(data))
        state[header : header + len(data)] = data
        program = decoded.get(data) or decode(data)
        if program.config.max_total_bytes > LANE_MAX_TOTAL_BYTES or program.calls > LANE_MAX_CALLS:
            return
        # The hot path: one native runner call per library, no object per op. Checking
        # costs more than the calls it checks, so one input in MODEL_CHECK_EVERY is
        # checked here (fast model first); every input the lane keeps is checked in full
        # afterwards, off the hot path (run_lane, _Replayer.check_kept).
        encoded = encode_native(program)
        check = execs % MODEL_CHECK_EVERY == 0
        if encoded is None:  # a restart or a repeat: the interpreter
            traces = {name: run_program(program, library, deferred) for name, library, deferred, _ in libraries}
        elif not check:
            for _, library, deferred, runner in libraries:
                run_unchecked(encoded, library, runner, deferred)
            return
        else:
            packed = {name: run_encoded(encoded, library, runner, deferred) for name, library, deferred, runner in libraries}
            prediction = predict(program)
            if all(accepts(prediction, trace) for trace in packed.values()):
                return
            traces = {name: unpack(program, trace) for name, trace in packed.items()}
        if not check:
            return
        divergences = check_program(program, traces)
        if divergences:
            d = divergences[0]
            key = (d.target, d.against, d.function, d.aspect, d.expected_status, d.actual_status)
            if key not in seen:
                seen.add(key)
                _write_artifact(artifacts, "divergent", data)

    # atheris.Mutate is looked up at each call: atheris rebinds it to the loaded
    # libFuzzer when Fuzz() starts (the function bound before raises "Fuzz() must be
    # called before Mutate()").
    mutator = _structure_aware_mutator(lambda data, max_size: atheris.Mutate(data, max_size), decoded)
    atheris.Setup(argv, test_one_input, custom_mutator=mutator, internal_libfuzzer=True)
    gc.collect()
    gc.freeze()
    atheris.Fuzz()
    return 0


#: libFuzzer's -use_value_profile (0/1); overridable with FUZZHARNESS_VALUE_PROFILE.
#: On: a comparison whose operands come closer (fewer differing bits) is new coverage,
#: so inputs approaching a magic value are kept and the search climbs toward it instead
#: of waiting for libFuzzer to splice in the whole traced operand. Measured with the
#: structure-aware mutator, magic-value mutant, 60 s runs: Go found in 5 of 5 runs
#: (9.6-38.2 s) with it, 3 of 4 without; Rust 3 of 3 both ways. The price: the corpus
#: grows faster (~15 entries/s at first), which corpus-min (-merge=1) brings back down.
#: (Measured off before the mutator was really used, it had made things worse.)
VALUE_PROFILE = int(os.environ.get("FUZZHARNESS_VALUE_PROFILE", "1"))
#: libFuzzer's -entropic_scale_per_exec_time: 1 = fast inputs are mutated more often. A Go
#: program with the deferred strategy forces a GC in quiesce and costs ~5 ms where most
#: cost 0.2-1 ms; measured on Go, the exec rate rose from ~650 to ~1,700/s and the
#: magic-value mutant was found in 3 of 3 runs of 60 s instead of 1 of 3.
SCALE_PER_EXEC_TIME = 1
#: The lane checks one input in this many against the model (see test_one_input).
MODEL_CHECK_EVERY = 16
#: The lane process's cyclic garbage collector thresholds (gc.set_threshold; default 700, 10, 10).
LANE_GC_THRESHOLD = (100_000, 50, 50)
#: Kept inputs checked per batch after the lane (run_lane, _Replayer.check_kept).
_KEPT_BATCH = 256


#: Shares of the mutator's strategies (the rest: libFuzzer's mutation of the whole encoding).
LIVE_DATA_MUTATIONS = 0.8
STRUCTURE_MUTATIONS = 0.12
#: Share of live-data mutations aimed at the program's last live write (see live_data).
#: (Measured, 3 runs each on Rust: 0.5, 1.0, or 1.0 with a deeper -mutate_depth made no
#: clear difference to the time to find the magic-value mutant.)
LAST_WRITE_SHARE = 0.75
#: A write's data is grown to a word (when the resource has room) half of the time.
WORD = 8
#: Longest data libFuzzer may grow a write's data to in one mutation.
MAX_DATA_MUTATION = 32
#: Programs the mutator keeps decoded (the cache is emptied when full).
_DECODED_CACHE = 1 << 15


def live_writes(program: Any) -> list[tuple[int, int]]:
    """(position, room) of the writes of ``program`` that probably succeed: a cheap static
    estimate (no model run) of which ``hK`` are live, writable resources of enough size.

    It follows creates against the config's capacity and byte limits, snapshots
    (read-only), acquires and releases of ``Ref`` handles; a ``restart`` ends every
    resource, a ``repeat`` is followed through one iteration (its writes are never
    reported: the mutator replaces top-level ops). It ignores forged handles,
    deferred reclamation and everything else the model knows. It only aims mutations:
    a wrong guess costs one exec, never a finding.
    """
    from fuzzharness.programs.sequential import Acquire, Create, Ref, Release, Repeat, Restart, Snapshot, Write

    config = program.config
    live: dict[int, list[int]] = {}  # ref index -> [size, references, writable]
    total = produced = 0
    out: list[tuple[int, int]] = []

    def follow(op: Any, i: int | None) -> None:
        nonlocal total
        handle = getattr(op, "handle", None)
        ref = handle.index if isinstance(handle, Ref) and handle.index in live else None
        if isinstance(op, Create):
            if len(live) < config.capacity and op.size <= config.max_resource_bytes and total + op.size <= config.max_total_bytes:
                live[produced] = [op.size, 1, 1]
                total += op.size
        elif isinstance(op, Snapshot):
            if ref is not None and len(live) < config.capacity:
                size = live[ref][0]
                if size <= config.max_resource_bytes and total + size <= config.max_total_bytes:
                    live[produced] = [size, 1, 0]
                    total += size
        elif isinstance(op, Acquire) and ref is not None:
            live[ref][1] += 1
        elif isinstance(op, Release) and ref is not None:
            live[ref][1] -= 1
            if live[ref][1] == 0:
                total -= live.pop(ref)[0]
        elif isinstance(op, Write) and ref is not None and i is not None:
            size, _, writable = live[ref]
            if writable and op.data and op.offset + len(op.data) <= size:
                out.append((i, size - op.offset))

    for i, op in enumerate(program.ops):
        if isinstance(op, Restart):
            live.clear()
            total = 0
        elif isinstance(op, Repeat):
            for body_op in op.body:
                follow(body_op, None)
                produced += body_op.produces_handle
            continue
        else:
            follow(op, i)
        produced += op.produces_handle
    return out


def _insert_op(program: Any, position: int, op: Any) -> Any:
    """``program`` with ``op`` inserted at ``position``; when ``op`` produces handles (a
    repeat may produce several), later references to handle slots at or after its
    first move up by as many (in repeat bodies too)."""
    from fuzzharness.programs.sequential import Program, Repeat

    def shifted(o: Any) -> Any:
        if isinstance(o, Repeat):
            return Repeat(o.count, tuple(shifted(b) for b in o.body))
        handle = getattr(o, "handle", None)
        if hasattr(handle, "index") and handle.index >= first:  # Ref, Tweak, Nudge
            return dataclasses.replace(o, handle=dataclasses.replace(handle, index=handle.index + by))
        return o

    ops = list(program.ops)
    by = int(op.produces_handle)
    if by:
        first = sum(o.produces_handle for o in ops[:position])
        ops[position:] = [shifted(o) for o in ops[position:]]
    ops.insert(position, op)
    if isinstance(op, Repeat) or type(op).__name__ == "Restart":
        return Program(program.config, tuple(ops))
    # A call op whose handle operand names an earlier producer (every caller's), and
    # references shifted with their producers: valid by construction (the hot path).
    return _known_valid(program.config, tuple(ops))


def _known_valid(config: Any, ops: tuple) -> Any:
    """A :class:`~fuzzharness.programs.sequential.Program` of ops the caller knows form a
    valid program (derived from a valid one by a change that keeps it valid), built
    without validating every op again: the mutator's hot path."""
    from fuzzharness.programs.sequential import Program

    program = object.__new__(Program)
    object.__setattr__(program, "config", config)
    object.__setattr__(program, "ops", ops)
    return program


def _evict_oldest(cache: dict) -> None:
    """Drop the older half of a full cache (dicts keep insertion order): emptying it
    whole made every corpus input be decoded again at once (profiled)."""
    for key in list(itertools.islice(cache, len(cache) // 2)):
        del cache[key]


class _Bits:
    """A small deterministic generator (splitmix64) for the mutator's hot path: seeding
    a ``random.Random`` costs more than the rest of a live-data mutation."""

    __slots__ = ("state",)
    _MASK = (1 << 64) - 1

    def __init__(self, seed: int) -> None:
        self.state = seed & self._MASK

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & self._MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self._MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self._MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        """A float in [0, 1)."""
        return (self.next() >> 11) / (1 << 53)

    def below(self, n: int) -> int:
        """An int in [0, n) (n small: the bias is negligible)."""
        return self.next() % n

    def bytes(self, n: int) -> bytes:
        return b"".join(self.next().to_bytes(8, "little") for _ in range((n + 7) // 8))[:n]


class _Entry:
    """What the mutator's hot path needs of one input, computed once per input: its
    program, its exact encoding, and for each write :func:`live_writes` expects to
    succeed ``(position, room, start)``, ``start`` being where the write's data begins
    in the encoding (its length byte is just before). A live-data mutation is then a
    splice of bytes (:func:`_structure_aware_mutator`)."""

    __slots__ = ("program", "encoding", "writes")

    def __init__(self, program: Any, encoding: bytes, writes: list[tuple[int, int, int]]) -> None:
        self.program = program
        self.encoding = encoding
        self.writes = writes

    @classmethod
    def of(cls, program: Any) -> "_Entry":
        from fuzzharness.programs.sequential import Program, encode

        writes = []
        for i, room in live_writes(program):
            # The write's encoding ends with its length byte and its data: the prefix up to
            # and including it ends where the data does.
            end = len(encode(Program(program.config, program.ops[: i + 1])))
            writes.append((i, room, end - len(program.ops[i].data)))
        return cls(program, encode(program), writes)


def _with_write_data(program: Any, i: int, data: bytes) -> Any:
    """``program`` with write ``i``'s data replaced by ``data`` (at most MAX_WRITE_LEN
    bytes): still valid (a write's data is checked against nothing else)."""
    from fuzzharness.programs.sequential import Write

    ops = program.ops
    return _known_valid(program.config, ops[:i] + (Write(ops[i].handle, ops[i].offset, data, ops[i].via),) + ops[i + 1 :])


def _structure_aware_mutator(mutate: Callable[[bytes, int], bytes],
                             decoded: dict[bytes, Any] | None = None) -> Callable[[bytes, int, int], bytes]:  # fmt: skip
    """The lane's mutator: mutations of the program, not only of its bytes.

    A target compares the data of a *successful* write, and byte-level mutation of a
    whole encoding rarely lands there with the write still succeeding (it changes ops,
    handles, sizes and offsets). So, with shares :data:`LIVE_DATA_MUTATIONS` and
    :data:`STRUCTURE_MUTATIONS`:

    * **live data**: pick a write that :func:`live_writes` expects to succeed and run
      libFuzzer's own mutator (``mutate``: the comparison operands the targets traced
      reach it) on its data alone, within the room the resource has; an input without
      such a write gets one (``create`` + ``write h 0 data`` put first);
    * **structure**: delete an op (with the ops naming its handle), duplicate one,
      insert a generated one, retarget a write to a live handle at offset 0;
    * otherwise libFuzzer's mutation of the whole encoding.

    Every result is a valid program re-encoded (``decode`` is total, ``encode`` exact);
    one the byte form cannot express, or longer than ``max_size``, falls back to the
    byte-level mutation. ``decoded`` (optional) caches programs by their encoding, for
    the mutator and the lane's ``test_one_input``: decoding costs as much as a run.
    """
    from fuzzharness.findings.minimize import remove_ops
    from fuzzharness.programs.sequential import (
        MAX_WRITE_LEN,
        Create,
        Program,
        Raw,
        Ref,
        Repeat,
        Write,
        decode,
        encode,
        generate,
    )

    cache: dict[bytes, Any] = decoded if decoded is not None else {}
    entries: dict[bytes, _Entry] = {}
    rng = random.Random()

    def spliced(data: bytes, max_size: int, bits: _Bits) -> bytes | None:
        """The live-data mutation on the bytes of a known input (see _Entry): libFuzzer's
        mutator on one write's data, spliced into the encoding; None when the input
        has no live write. No program is rebuilt, validated or re-encoded."""
        entry = entries.get(data)
        if entry is None:
            if len(entries) >= _DECODED_CACHE:
                _evict_oldest(entries)
            entry = entries[data] = _Entry.of(cache.get(data) or decode(data))
        if not entry.writes:
            return None
        writes = entry.writes
        i, room, start = writes[-1] if bits.random() < LAST_WRITE_SHARE else writes[bits.below(len(writes))]
        op = entry.program.ops[i]
        data_now = op.data
        budget = max_size - len(entry.encoding)
        if len(data_now) < WORD and room >= WORD and budget >= WORD - len(data_now) and bits.random() < 0.5:
            data_now += bits.bytes(WORD - len(data_now))
        limit = max(1, min(MAX_WRITE_LEN, room, budget + len(op.data), max(MAX_DATA_MUTATION, len(data_now))))
        new = mutate(data_now, limit)[:room] or op.data
        out = b"".join((entry.encoding[: start - 1], bytes((len(new),)), new, entry.encoding[start + len(op.data) :]))
        if len(out) > max_size:
            return None
        if len(cache) >= _DECODED_CACHE:
            _evict_oldest(cache)
        program = cache[out] = _with_write_data(entry.program, i, new)
        # libFuzzer mutates its own output again (-mutate_depth): the output's entry is
        # this one's, the data after the splice moved by the change in length (a write
        # stays live: its data is non-empty and within the room, which is unchanged).
        delta = len(new) - len(op.data)
        entries[out] = _Entry(program, out, [(j, r, at + delta if at > start else at) for j, r, at in writes])
        return out

    def live_data(program: Any, rng: random.Random, budget: int) -> Any:
        live = live_writes(program)
        if live:
            # Mostly the last live write: fewer comparisons run after it, so the operands
            # it traced are still in libFuzzer's table when the next input mutates.
            i, room = live[-1] if rng.random() < LAST_WRITE_SHARE else rng.choice(live)
            op = program.ops[i]
            data = op.data
            if len(data) < WORD and room >= WORD and budget >= WORD - len(data) and rng.random() < 0.5:
                # Native code compares words (u32, u64) at the head of the data; a shorter
                # write never reaches such a comparison, so it never traces its operands.
                data += rng.randbytes(WORD - len(data))
            # Within the resource's room, the input's length budget (the rest of the
            # encoding stays as it is, so the result is run, not thrown away) and
            # MAX_DATA_MUTATION (libFuzzer inserts a traced operand at a random position).
            limit = max(1, min(MAX_WRITE_LEN, room, budget + len(op.data), max(MAX_DATA_MUTATION, len(data))))
            new = mutate(data, limit)[:room] or op.data
            ops = list(program.ops)
            ops[i] = dataclasses.replace(op, data=new)
            return Program(program.config, tuple(ops))
        writes = [op.data for op in program.ops if isinstance(op, Write) and op.data]
        data = rng.choice(writes) if writes else rng.randbytes(rng.choice((4, 8)))
        size = min(max(len(data), 8), program.config.max_resource_bytes)
        program = _insert_op(program, 0, Create(size=size))
        return _insert_op(program, 1, Write(handle=Ref(0), offset=0, data=data[:size]))

    def structure(program: Any, rng: random.Random, budget: int) -> Any:
        ops = program.ops
        roll = rng.randrange(4)
        if roll == 0 and ops:
            return remove_ops(program, {rng.randrange(len(ops))})
        if roll == 1 and ops:
            i = rng.randrange(len(ops))
            return _insert_op(program, i + 1, ops[i])
        if roll == 2 or not ops:
            # a generated op (not a repeat: its body names the handles of another program)
            op = rng.choice([o for o in generate(rng, max_ops=4).ops if not isinstance(o, Repeat)] or [Create(size=8)])
            position = rng.randrange(len(ops) + 1)
            produced = sum(o.produces_handle for o in ops[:position])
            handle = getattr(op, "handle", None)
            if hasattr(handle, "index"):  # Ref, Tweak, Nudge
                op = dataclasses.replace(op, handle=dataclasses.replace(handle, index=handle.index % produced)
                                         if produced else Raw(0))  # fmt: skip
            return _insert_op(program, position, op)
        writes = [i for i, op in enumerate(ops) if isinstance(op, Write)]
        if not writes:
            return live_data(program, rng, budget)
        i = rng.choice(writes)
        before = sum(o.produces_handle for o in ops[:i])
        if not before:
            return live_data(program, rng, budget)
        new = dataclasses.replace(ops[i], handle=Ref(rng.randrange(before)), offset=0)
        return Program(program.config, ops[:i] + (new,) + ops[i + 1 :])

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        # The same mutation for the same seed: cheap bits on the hot path, and the one
        # Mersenne Twister reseeded (not a new one) only where a program is rebuilt.
        bits = _Bits(seed)
        roll = bits.random()
        if roll >= LIVE_DATA_MUTATIONS + STRUCTURE_MUTATIONS:
            return mutate(data, max_size)
        if roll < LIVE_DATA_MUTATIONS:
            try:
                out = spliced(data, max_size, bits)
            except ValueError:  # a program the byte form cannot express exactly
                return mutate(data, max_size)
            if out is not None:
                return out
        rng.seed(seed)
        program = cache.get(data) or decode(data)
        budget = max_size - len(data)
        try:
            program = (live_data if roll < LIVE_DATA_MUTATIONS else structure)(program, rng, budget)
            out = encode(program)
        except ValueError:  # a program the byte form cannot express exactly
            return mutate(data, max_size)
        if len(out) > max_size:
            return mutate(data, max_size)
        if len(cache) >= _DECODED_CACHE:
            _evict_oldest(cache)
        cache[out] = program
        return out

    return mutator


def _write_artifact(directory: Path, prefix: str, data: bytes) -> None:
    """Atomically write ``data`` as ``<prefix>-<sha1>`` (a reader sees it whole or not)."""
    name = f"{prefix}-{hashlib.sha1(data).hexdigest()}"
    tmp = directory / f".{name}.tmp"
    tmp.write_bytes(data)
    os.rename(tmp, directory / name)


# =========================================================================== harness side


def _plain_variant(spec: Any, variant: str) -> str:
    v = spec.variant(variant)
    if v.coverage_of is None:
        covs = [n for n, x in spec.variants.items() if x.coverage_of]
        raise InvalidArgument(
            f"variant {variant!r} of target {spec.name!r} has no coverage instrumentation; "
            f"the coverage-guided lane needs one of: {', '.join(covs) or '(none registered)'}"
        )
    return v.coverage_of


def _lane_config(specs: list[Any], variant: str, mutant: int, work: Path) -> dict[str, Any]:
    if sum("go" in spec.requires for spec in specs) > 1:
        raise InvalidArgument("the coverage lane loads every target into one process: at most one Go target")
    targets = []
    for spec in specs:
        v = spec.variant(variant)
        _plain_variant(spec, variant)
        if mutant and not v.testing:
            raise InvalidArgument(f"--mutant needs a variant with mutant injection (e.g. mutants-cov), not {variant!r}")
        targets.append({"name": spec.name, "library": str(spec.library(variant)), "testing": v.testing,
                        "deferred": int(spec.deferred)})  # fmt: skip
    return {"targets": targets, "mutant": int(mutant), "artifacts": str(work / "artifacts"), "state": str(work / "state")}


def _prepare_work(config: dict[str, Any], work: Path) -> Path:
    """The work directory: artifacts/, the state file, the executable wrapper; returns it."""
    (work / "artifacts").mkdir(parents=True, exist_ok=True)
    with open(work / "state", "wb") as fh:
        fh.truncate(_STATE_SIZE)
    wrapper = work / "fh-coverage-lane"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "# fuzzharness coverage lane (generated by fuzzharness.lanes.coverage): runs libFuzzer in this process.\n"
        f"import sys\nsys.path.insert(0, {str(PROJECT_ROOT)!r})\n"
        "from fuzzharness.lanes.coverage import lane_main\nsys.exit(lane_main(sys.argv))\n"
    )
    wrapper.chmod(0o755)
    return wrapper


def _lane_env(config: dict[str, Any]) -> dict[str, str]:
    # Decided, not inherited (fuzzharness.execution.environment): libFuzzer's process loads the targets.
    env = {**decide("hunt").env, _CONFIG_ENV: json.dumps(config)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def _seed_corpus(corpus: Path, seed: int) -> None:
    """Give an empty corpus the committed seed programs (``corpus/seeds``, those short
    enough) and the byte encodings of a few generated programs."""
    from fuzzharness.findings.corpus import SEED_DIR
    from fuzzharness.findings.store import read_text
    from fuzzharness.programs.sequential import encode, generate, parse_text

    if any(corpus.iterdir()):
        return
    for path in sorted(SEED_DIR.glob("*.fh")):
        try:
            data = encode(parse_text(read_text(path), str(path)))
        except (ValueError, FuzzHarnessError):
            continue
        if len(data) <= MAX_LEN:
            _write_artifact(corpus, "seed", data)
    for i in range(_SEED_PROGRAMS):
        try:
            data = encode(generate(random.Random(seed * 1000 + i), max_ops=16))
        except ValueError:
            continue
        if len(data) <= MAX_LEN:
            _write_artifact(corpus, "seed", data)


def _read_state(work: Path) -> tuple[int, bytes]:
    raw = (work / "state").read_bytes()
    execs, length = _STATE.unpack_from(raw)
    return execs, raw[_STATE.size : _STATE.size + min(length, MAX_LEN)]


def _corpus_size(corpus: Path) -> int:
    return sum(1 for p in corpus.iterdir() if p.is_file() and not p.name.startswith("."))


class _Replayer:
    """Replays lane inputs on the uninstrumented variants through the usual workers and
    turns them into saved findings (one worker per target, restarted after a crash)."""

    def __init__(self, specs: list[Any], variant: str, mutant: int, out: Path, timeout: float, seed: int) -> None:
        from fuzzharness.execution.supervisor import TargetWorker

        self.variant, self.mutant, self.out, self.seed = variant, mutant, out, seed
        self.workers = {}
        for spec in specs:
            plain = _plain_variant(spec, variant)
            testing = spec.variant(plain).testing
            self.workers[spec.name] = TargetWorker(spec, plain, timeout=timeout, mutant=mutant if testing else 0)
        self.plain = _plain_variant(specs[0], variant)
        self.replayed: set[str] = set()

    def replay(self, data: bytes, found_at: float, origin: str) -> list[dict[str, Any]]:
        from fuzzharness.findings.store import save
        from fuzzharness.findings.triage import findings_for
        from fuzzharness.programs.sequential import decode

        digest = hashlib.sha1(data).hexdigest()
        if digest in self.replayed:
            return []
        self.replayed.add(digest)
        program = decode(data)
        outcomes: dict[str, Any] = {}
        for name, worker in self.workers.items():
            for event in worker.run([(digest, program)]):
                if event[0] in ("result", "failure"):
                    outcomes[name] = event[2]
        entries = []
        for finding in findings_for(program, outcomes, variant=self.plain, seed=None, mutant=self.mutant):
            finding.found_at = found_at
            finding.details["coverage"] = {"variant": self.variant, "lane_seed": self.seed, "artifact": origin,
                                           "input_hex": data.hex()}  # fmt: skip
            path = save(finding, self.out)
            entries.append({
                "id": finding.id, "kind": finding.kind.name, "targets": finding.targets, "summary": finding.summary,
                "seed": finding.seed, "path": str(path or self.out / finding.id), "new": path is not None,
                "found_at": finding.found_at,
            })  # fmt: skip
        return entries

    def check_kept(self, paths: list[Path], found_at: float) -> tuple[int, list[dict[str, Any]]]:
        """Check the inputs the lane kept (corpus entries it added) on the plain twin
        build, off the lane's hot path: one batch per worker, packed traces, the fast
        model first, the reference check (and a saved finding) only for an input it does
        not accept. Returns (inputs checked, new finding entries)."""
        from fuzzharness.execution.supervisor import BatchRun
        from fuzzharness.oracles.fastmodel import accepts, predict
        from fuzzharness.programs.sequential import decode

        batch, data_of = [], {}
        for path in paths:
            try:
                data = path.read_bytes()[:MAX_LEN]
            except OSError:
                continue
            digest = hashlib.sha1(data).hexdigest()
            program = decode(data)
            if digest in self.replayed or program.config.max_total_bytes > LANE_MAX_TOTAL_BYTES or (
                    program.calls > LANE_MAX_CALLS):  # fmt: skip
                continue
            batch.append((digest, program))
            data_of[digest] = data
        entries: list[dict[str, Any]] = []
        for start in range(0, len(batch), _KEPT_BATCH):
            part = batch[start : start + _KEPT_BATCH]
            outcomes = BatchRun(self.workers, part, packed=True).wait()
            for digest, program in part:
                traces = outcomes[digest]
                prediction = predict(program)
                if all(isinstance(t, tuple) and accepts(prediction, t) for t in traces.values()):
                    continue
                entries += self.replay(data_of[digest], found_at, "kept input")
        return len(batch), entries

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()


def run_lane(
    targets: list[str],
    seconds: float,
    corpus_dir: Path,
    out: Path,
    seed: int,
    variant: str = "cov",
    mutant: int = 0,
    *,
    timeout: float = 10.0,
    stop_on_first: bool = False,
    stop_kinds: tuple[str, ...] = (),
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the coverage-guided lane for ``seconds`` on ``targets`` (``variant`` must be a
    coverage build: ``cov`` or ``mutants-cov``) and save what it finds under ``out``.

    Returns ``{"execs", "findings", "coverage", "corpus_added"}`` plus ``seconds``,
    ``restarts``, ``errors`` and ``variant``; ``findings`` holds one entry per finding
    (``id, kind, targets, summary, seed, path, new, found_at``), as the random lane's
    summary does. ``stop_on_first`` ends the lane at the first finding (of a kind in
    ``stop_kinds`` if given): the time to detection. ``timeout`` is seconds per input
    before libFuzzer calls it a timeout (and per program when replaying).
    """
    from fuzzharness.contract.registry import select_targets

    specs = select_targets(targets)
    for spec in specs:
        _plain_variant(spec, variant)  # bad usage fails before anything is created
    corpus_dir, out = Path(corpus_dir), Path(out)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    deadline = start + seconds
    result: dict[str, Any] = {"execs": 0, "findings": [], "coverage": None, "corpus_added": 0, "seconds": 0.0,
                              "restarts": 0, "errors": [], "variant": variant, "kept_checked": 0}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="fh-coverage-") as tmp:
        work = Path(tmp)
        config = _lane_config(specs, variant, mutant, work)
        wrapper = _prepare_work(config, work)
        _seed_corpus(corpus_dir, seed)
        before = _corpus_size(corpus_dir)
        env = _lane_env(config)
        replayer = _Replayer(specs, variant, mutant, out, timeout, seed)
        initial = {p.name for p in corpus_dir.iterdir()}
        log_path = work / "libfuzzer.log"
        try:
            run = 0
            while (remaining := deadline - time.monotonic()) >= 1.0:
                args = [
                    str(wrapper), f"-max_total_time={max(1, math.floor(remaining))}", f"-timeout={max(1, math.ceil(timeout))}",
                    f"-seed={(seed * 1000 + run) % (1 << 31) + 1}", f"-max_len={MAX_LEN}", f"-use_value_profile={VALUE_PROFILE}",
                    f"-artifact_prefix={work / 'artifacts'}/", "-print_final_stats=1", "-reload=0",
                    f"-entropic_scale_per_exec_time={SCALE_PER_EXEC_TIME}", str(corpus_dir),
                ]  # fmt: skip
                with open(log_path, "wb") as log:
                    proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)  # fmt: skip
                    rc = _wait(proc, deadline + max(timeout, 5.0) + 10.0)
                run += 1
                log_text = log_path.read_text(errors="replace")
                if m := _COV.findall(log_text):
                    result["coverage"] = int(m[-1])
                execs, last_input = _read_state(work)
                result["execs"] += execs
                _reset_state(work)
                if "INFO: Running with entropic power schedule" not in log_text and execs == 0:
                    result["errors"].append(f"the lane process did not start (exit {rc}): {log_text[-2000:]}")
                    break
                if "found LLVMFuzzerCustomMutator" not in log_text and execs:
                    result["errors"].append("libFuzzer ran without the structure-aware mutator "
                                            "(LLVMFuzzerCustomMutator not found)")  # fmt: skip
                found_at = time.time()
                artifacts = sorted((work / "artifacts").glob("[!.]*"))
                died = rc != 0
                if died:
                    result["restarts"] += 1
                inputs = [(p.read_bytes(), p.name) for p in artifacts]
                if died and not any(name.startswith(("crash-", "timeout-", "oom-")) for _, name in inputs):
                    inputs.append((last_input, f"last input (lane process exit {rc})"))
                for path in artifacts:
                    path.unlink()
                for data, origin in inputs:
                    try:
                        entries = replayer.replay(data, found_at, origin)
                    except FuzzHarnessError as exc:
                        result["errors"].append(f"replaying {origin}: {exc}")
                        continue
                    if not entries and origin.startswith(("crash-", "last input")):
                        result["errors"].append(f"{origin} did not reproduce on the {replayer.plain} variant")
                    known = {f["id"] for f in result["findings"]}
                    result["findings"] += [e for e in entries if e["id"] not in known]
                if progress is not None:
                    progress(result)
                if stop_on_first and any(not stop_kinds or f["kind"] in stop_kinds for f in result["findings"]):
                    break
                if not died:
                    break
            # Every input the lane kept is checked in full, after the hot path (which
            # checks one input in MODEL_CHECK_EVERY).
            kept = sorted(p for p in corpus_dir.iterdir() if p.name not in initial and not p.name.startswith("."))
            try:
                result["kept_checked"], entries = replayer.check_kept(kept, time.time())
            except FuzzHarnessError as exc:
                result["errors"].append(f"checking the kept inputs: {exc}")
            else:
                known = {f["id"] for f in result["findings"]}
                result["findings"] += [e for e in entries if e["id"] not in known]
        finally:
            replayer.close()
            result["corpus_added"] = max(0, _corpus_size(corpus_dir) - before)
            result["seconds"] = round(time.monotonic() - start, 2)
    return result


def _reset_state(work: Path) -> None:
    with open(work / "state", "r+b") as fh:
        fh.write(_STATE.pack(0, 0))


def _wait(proc: subprocess.Popen, hard_deadline: float) -> int:
    """Wait for the lane process; past ``hard_deadline`` kill its process group."""
    try:
        return proc.wait(timeout=max(0.1, hard_deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return proc.wait()


def minimize_corpus(targets: list[str], corpus_dir: Path, variant: str = "cov", mutant: int = 0,
                    timeout: float = 10.0) -> dict[str, int]:  # fmt: skip
    """Shrink ``corpus_dir`` to a subset with the same coverage (libFuzzer ``-merge=1``).

    The merged corpus replaces the old one only once the merge succeeded; returns
    ``{"before": files, "after": files}``.
    """
    from fuzzharness.contract.registry import select_targets

    specs = select_targets(targets)
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise InvalidArgument(f"{corpus_dir}: no such corpus directory")
    before = _corpus_size(corpus_dir)
    with tempfile.TemporaryDirectory(prefix="fh-coverage-merge-") as tmp:
        work = Path(tmp)
        config = _lane_config(specs, variant, mutant, work)
        wrapper = _prepare_work(config, work)
        merged = corpus_dir.parent / f".{corpus_dir.name}.merged-{os.getpid()}"
        merged.mkdir()
        try:
            proc = subprocess.run(
                [str(wrapper), "-merge=1", f"-timeout={max(1, math.ceil(timeout))}", f"-max_len={MAX_LEN}",
                 f"-artifact_prefix={work / 'artifacts'}/", str(merged), str(corpus_dir)],
                env=_lane_env(config), stdin=subprocess.DEVNULL, capture_output=True, text=True,
            )  # fmt: skip
            if proc.returncode != 0:
                raise FuzzHarnessError(f"corpus merge failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
            old = corpus_dir.parent / f".{corpus_dir.name}.old-{os.getpid()}"
            os.rename(corpus_dir, old)
            os.rename(merged, corpus_dir)
            shutil.rmtree(old)
        finally:
            shutil.rmtree(merged, ignore_errors=True)
    return {"before": before, "after": _corpus_size(corpus_dir)}


def coverage_mode(job: Any, out: Path) -> Any:
    """The mutant suite's ``coverage`` mode (:data:`fuzzharness.lanes.mutants.MODES`): the lane on
    the plan's coverage variant, stopped at the first finding of a fitting kind."""
    from fuzzharness.findings.detection import Detection

    start = time.time()
    result = run_lane([job.target.name], job.budget, out / "corpus", out, job.seed, job.plan.variant,
                      int(job.mutant), timeout=job.plan.timeout, stop_on_first=True,
                      stop_kinds=job.plan.kinds)  # fmt: skip
    if not result["findings"]:
        if result["errors"] and not result["execs"]:
            raise FuzzHarnessError("; ".join(result["errors"]))
    return Detection.from_hits(result["findings"], job.plan.kinds, start, result["execs"])
