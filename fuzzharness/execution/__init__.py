"""Execution: worker processes that load one target each, and the parent side that survives them.

``worker`` is the subprocess (``python -m fuzzharness.execution.worker``), ``in_worker``
the work it does besides sequential programs, ``supervisor`` the parent side (timeouts,
crashes, RSS limits, batches), ``wire`` the framing between them.
Imports: ``oracles`` and below.
"""
