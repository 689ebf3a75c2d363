"""The campaign config parser, fuzzed: the only exception that escapes is the project's input error.

Binary garbage, deep nesting (100k-deep arrays make ``tomllib`` raise RecursionError),
wrong types (``lanes = 5``), an unknown mutant name, a misspelt lane option, an odd
duration: each is one line of ``CorruptInput``/``InvalidArgument``, never a traceback.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzharness.errors import UserError

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def only_input_errors(parse, data) -> None:
    try:
        parse(data)
    except UserError:
        pass


@SETTINGS
@given(st.one_of(
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.text(max_size=300),
    st.integers(1, 100_000).map(lambda n: "a = " + "[" * n + "]" * n),
    st.sampled_from(["[campaign]\nlanes = 5\n", "[campaign]\nmutant = 'no-such-mutant'\n",
                     "[lanes.random]\nmax_opps = 10\n", "[campaign]\nduration = '1h30'\n"]),
))  # fmt: skip
def test_campaign_config(tmp_path_factory, text):
    from fuzzharness.lanes.campaign import load_config

    path = tmp_path_factory.mktemp("config") / "campaign.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    only_input_errors(load_config, path)
