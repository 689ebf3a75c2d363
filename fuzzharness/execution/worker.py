"""The worker subprocess: loads ONE target library and runs programs on it.

For a cross-runtime pair (spec ``pair``) it loads both libraries, the owner first and
the foreign (Go) front last, and attaches them (:class:`~fuzzharness.contract.bindings.PairLibrary`).

Started by :mod:`fuzzharness.execution.supervisor` as ``python -m fuzzharness.execution.worker SPEC``
(a fresh interpreter, never a fork: forking after the Go runtime started hangs).
A target that crashes or hangs takes only this process with it; the supervisor
sees which program was running (results are streamed one program at a time) and
keeps the input.

Guarantees:
* ``faulthandler`` is enabled before the library is loaded (a Go library loaded
  first garbles its panics otherwise), and SIGUSR1 dumps the Python stacks, which
  the supervisor uses to tell where a hung worker is stuck;
* the protocol runs on private duplicates of fds 0 and 1; fd 1 itself is pointed
  at stderr, so whatever a target prints cannot corrupt the protocol.

Requests (frames, see :mod:`fuzzharness.execution.wire`):
  ``("run", [(key, Program), ...], stream_ops[, packed])`` -> ``("step", key, i, Observation)``
  for each step when stream_ops, then ``("result", key, trace)`` per program, then
  ``("done",)``. With stream_ops each step goes through the interpreter
  (:func:`~fuzzharness.programs.interpreter.run_program`), so a crash still shows every step
  before it; without, each program is one call of the native runner
  (:func:`~fuzzharness.programs.interpreter.run_program_native`, the same trace), which
  publishes the step in flight in the progress file the supervisor passed
  (``progress_fd``), so a crash or hang is still pinned to its step. With ``packed``
  (and neither stream_ops nor a sanitizer variant) a native-run program's trace is a
  packed trace (:func:`~fuzzharness.programs.interpreter.run_program_packed`: plain
  values, unpacked only by a caller that needs observations); a program may then come
  encoded for the runner (:func:`~fuzzharness.programs.interpreter.encode_native`, a
  tuple of bytes: the harness encodes a batch once for every worker) instead of as a
  :class:`Program`;
  ``("mutant", n)`` -> ``("mutant", status)``; ``("bench", programs)`` ->
  ``("bench", figures)`` (see :mod:`fuzzharness.bench.throughput`); ``("probe", program)`` ->
``("probe", [(handle, status, info), ...])`` (see :mod:`fuzzharness.oracles.leaks`); ``("exit",)``.
In sanitizer variants LeakSanitizer checks each batch; a leak is sent as ``("leak", key,
report)`` before ``("done",)``.
The first frame sent is ``("hello", {...})`` or ``("error", message)``.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
import threading
import time
import traceback

#: The health check after a caught panic: a fresh session must do the basics right.
_PROBE_DATA = b"fuzzharness-health"


def healthy(library: object, immediate: int) -> bool:
    """Whether a library that just panicked still serves a fresh session correctly:
    init, create, write, read back, info, release, stats, shutdown with the expected
    statuses and bytes. False when any call fails, panics or answers wrongly (then the
    worker exits and a fresh process takes over)."""
    from fuzzharness.contract.header import Status

    ok = Status.OK
    try:
        if library.init(4, immediate, 1 << 16, 1 << 20)[0] != ok:
            return False
        status, handle = library.create(len(_PROBE_DATA))
        good = (status == ok and bool(handle)
                and library.write(handle, 0, _PROBE_DATA)[0] == ok
                and library.read(handle, 0, len(_PROBE_DATA)) == (ok, _PROBE_DATA)
                and library.info(handle)[0] == ok
                and library.release(handle)[0] == ok
                and library.stats()[0] == ok)  # fmt: skip
        if library.quiesce()[0] != ok:
            good = False
        return library.shutdown()[0] == ok and good
    except Exception:  # noqa: BLE001 - anything unexpected: not healthy
        return False


#: Seconds between two looks at whether the harness process that started us is alive.
ORPHAN_POLL = 0.5


def die_with_parent(poll: float = ORPHAN_POLL) -> None:
    """Kill this worker as soon as its parent is gone, even while a call spins in native
    code (cffi releases the GIL, so this thread runs). Workers live in their own session
    (a Ctrl-C reaches the harness, which stops them in order); a parent killed outright
    would otherwise leave them running. PR_SET_PDEATHSIG is not used: it fires when the
    *thread* that started the worker ends, and workers are started from short-lived ones."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll)
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="fuzzharness-orphan-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    faulthandler.enable(all_threads=True)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    die_with_parent()
    spec = json.loads(argv[1])
    protocol_out = os.fdopen(os.dup(1), "wb")
    protocol_in = os.fdopen(os.dup(0), "rb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    from fuzzharness.contract.bindings import Library
    from fuzzharness.contract.header import Status
    from fuzzharness.execution import wire

    PANIC = Status.PANIC
    from fuzzharness.programs.interpreter import run_encoded, run_program, run_program_native, run_program_packed

    try:
        if spec.get("coverage"):  # a coverage build: libFuzzer's hooks first (coverage.py)
            from fuzzharness.contract.bindings import libfuzzer_path, preload_global

            preload_global(libfuzzer_path())
        if spec.get("pair"):  # a cross-runtime pair: owner first, the foreign (Go) front last
            from fuzzharness.contract.bindings import PairLibrary

            owner, foreign = spec["pair"]["owner"], spec["pair"]["foreign"]
            library = PairLibrary(owner["library"], foreign["library"], owner["testing"], foreign["testing"],
                                  names=(owner["name"], foreign["name"]))  # fmt: skip
        else:
            library = Library(spec["library"], with_testing=spec["testing"])
        if spec.get("mutant"):
            status = library.set_mutant(spec["mutant"])
            if status != 0:
                raise RuntimeError(f"fh_test_set_mutant({spec['mutant']}) returned status {status}")
        hello = {"pid": os.getpid(), "abi": library.abi_version(), "library": spec["library"]}
    except Exception as exc:  # noqa: BLE001 - reported to the supervisor, which decides
        wire.send(protocol_out, ("error", f"{type(exc).__name__}: {exc}"))
        return 3
    wire.send(protocol_out, ("hello", hello))
    deferred = spec["deferred"]
    immediate = spec.get("immediate", 0)
    progress = None
    if spec.get("progress_fd") is not None:
        import mmap

        progress = mmap.mmap(spec["progress_fd"], 8)
    native_runner = None
    # Sanitizer variants: LeakSanitizer after every program (see fuzzharness.oracles.leaks).
    leak_checker = None
    if spec.get("sanitizer"):
        from fuzzharness.oracles.leaks import LeakChecker

        leak_checker = LeakChecker()

    while True:
        try:
            request = wire.recv_exact(protocol_in)
        except EOFError:
            return 0
        kind = request[0]
        try:
            if kind == "run":
                _, batch, stream_ops, *options = request
                # Packed traces (plain values, see fuzzharness.programs.interpreter) unless
                # LeakSanitizer wraps each trace (sanitizer variants) or steps are streamed.
                packed = bool(options and options[0]) and leak_checker is None and not stream_ops
                done = []
                tainted = False
                for key, program in batch:
                    statuses = None
                    if stream_ops:
                        def on_step(i, obs, key=key):  # noqa: E306
                            wire.send(protocol_out, ("step", key, i, obs))
                        trace = run_program(program, library, deferred, on_step, immediate)
                    else:
                        if native_runner is None:
                            from fuzzharness.contract.bindings import NativeRunner

                            native_runner = NativeRunner(library, progress)
                        if type(program) is tuple and leak_checker is not None:
                            raise ValueError("an encoded program sent to a sanitizer worker, which reruns Programs")
                        if type(program) is tuple:  # encoded once by the harness (encode_native)
                            trace = run_encoded(program, library, native_runner, deferred, immediate)
                            statuses = trace[0][0::2]
                        elif packed:
                            trace = run_program_packed(program, library, native_runner, deferred, immediate)
                            statuses = trace[0][0::2]
                        else:
                            trace = run_program_native(program, library, native_runner, deferred, immediate)
                    if leak_checker is not None:
                        trace = leak_checker.wrap(trace)
                    if statuses is None:
                        statuses = [obs.status for obs in trace]
                    done.append((key, program))
                    # A panic caught at the boundary may leave the library's state poisoned
                    # (a lock, a half-updated table): no later program may inherit it, or a
                    # finding would be pinned on a program that cannot reproduce it. A short
                    # health check decides whether this process may go on.
                    # Sent one program at a time: a crash in the next one is pinned to it.
                    wire.send(protocol_out, ("result", key, trace))
                    if PANIC in statuses and not healthy(library, immediate):
                        tainted = True
                        break
                if leak_checker is not None:
                    rerun = lambda program: run_program(program, library, deferred, None, immediate)  # noqa: E731
                    for key, report in leak_checker.after_batch(done, rerun):
                        wire.send(protocol_out, ("leak", key, report))
                if tainted:
                    wire.send(protocol_out, ("tainted",))
                    return 0
                wire.send(protocol_out, ("done",))
            elif kind == "stress":
                from fuzzharness.execution.in_worker import run_concurrent

                for key, program in request[1]:
                    wire.send(protocol_out, ("result", key, run_concurrent(library, program, deferred, immediate)))
                wire.send(protocol_out, ("done",))
            elif kind == "stress-bench":
                from fuzzharness.execution.in_worker import bench_stress_runner

                wire.send(protocol_out, ("stress-bench", bench_stress_runner(library, *request[1:])))
            elif kind == "bench":
                from fuzzharness.execution.in_worker import bench_throughput

                wire.send(protocol_out, ("bench", bench_throughput(library, request[1], deferred, immediate)))
            elif kind == "probe":
                from fuzzharness.oracles.leaks import probe_program

                wire.send(protocol_out, ("probe", probe_program(request[1], library, deferred, immediate)))
            elif kind == "mutant":
                wire.send(protocol_out, ("mutant", library.set_mutant(request[1])))
            elif kind == "exit":
                return 0
            else:
                raise ValueError(f"unknown request {kind!r}")
        except Exception:  # noqa: BLE001 - a harness bug: report it, do not hide it
            wire.send(protocol_out, ("internal-error", traceback.format_exc()))
            return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
