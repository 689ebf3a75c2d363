"""Findings: what was found, kept durably, named once, made small, replayed.

``store`` (the finding type and its directory), ``durable`` (atomic files, the journal),
``triage`` (outcomes to findings and signatures), ``memory`` (ASan and leak findings),
``detection`` (a mutant hunt's result), ``minimize``, ``corpus`` (queue and known
findings) and ``repro``. Imports: ``execution`` and below.
"""
