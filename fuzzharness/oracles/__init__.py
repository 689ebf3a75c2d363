"""Oracles: what decides whether a run was right.

The reference model (``model``), its concurrent form (``concurrent_model``) and the
linearizability checker (``linearizability``, with ``timeline`` to draw a verdict), the
differential check (``differential``), leak accounting (``leaks``) and sanitizer report
parsing (``sanitizer``). Pure Python over observations: nothing here starts a process.
Imports: ``programs`` and below.
"""
