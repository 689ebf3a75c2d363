"""Benchmarks that print figures: reclamation latency, checked throughput, stress machinery.

Imports: ``lanes`` and below.
"""
