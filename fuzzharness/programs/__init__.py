"""Programs: what the harness runs, in memory, as bytes and as text, and the interpreter.

``sequential`` and ``concurrent`` hold the program types, their generators and their
three forms; ``interpreter`` walks a program against any backend (the model or a
loaded library) and records one observation per step. Imports: ``contract`` and below.
"""
