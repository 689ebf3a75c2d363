"""The one error hierarchy of fuzzharness.

Every error the harness raises on purpose derives from :class:`FuzzHarnessError`.
Errors caused by the user (a bad argument, a corrupt findings file, a missing
toolchain) also inherit a builtin, as Hypothesis does, so callers can catch them
the usual way. The command line turns :class:`UserError` into exit code 2 with a
one-line message, and anything else into exit code 3 (internal error).
"""

from __future__ import annotations

__all__ = [
    "FuzzHarnessError",
    "UserError",
    "InvalidArgument",
    "CorruptInput",
    "MissingToolchain",
    "BuildFailed",
    "AbiMismatch",
    "TargetNotBuilt",
    "WorkerError",
]


class FuzzHarnessError(Exception):
    """Base of every error fuzzharness raises deliberately."""


class UserError(FuzzHarnessError):
    """Something the user can fix: the message names the offender and the rule."""


class InvalidArgument(UserError, ValueError):
    """A command-line or API argument is out of range or malformed."""


class CorruptInput(UserError, ValueError):
    """A program, corpus or findings file cannot be read.

    The message always starts with the file name and says what is wrong.
    """


class MissingToolchain(UserError, RuntimeError):
    """A build needs a tool (cargo, go, a C compiler) that is not installed."""


class BuildFailed(UserError, RuntimeError):
    """A shim build command ran and failed."""


class AbiMismatch(UserError, RuntimeError):
    """A target library implements another major version of the contract."""


class TargetNotBuilt(UserError, FileNotFoundError):
    """A target's library file does not exist: run ``fuzzharness build``."""


class WorkerError(FuzzHarnessError, RuntimeError):
    """The worker protocol broke in a way that is the harness's mutant, not the target's."""
