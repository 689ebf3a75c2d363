"""The contract layer: what the C header says, and the only door to a native library.

``header`` reads statuses, strategies, mutants and limits from the canonical header;
``values`` holds the contract's output structs as Python values; ``bindings`` is the only
module of the package that touches cffi (libraries, the native runner, the bench load
generator, whose C sources sit beside it); ``registry`` declares and builds targets;
``abi_check`` compares every shim's exports with the header. Imports: ``errors`` only.
"""
