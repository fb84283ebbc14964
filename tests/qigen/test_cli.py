"""`mlroundup qigen generate` option checks, which run before any model loads.

Oracle: the packing unit of b-bit codes is lcm(b, 32) / b values (8 at 4 bits, 32 at 3 bits), so
a group size must be a positive multiple of it, or 'row'."""

import pytest

from mlroundup.cli import main


@pytest.mark.parametrize(
    "bits,group", [("4", "0"), ("4", "-5"), ("4", "33"), ("4", "abc"), ("3", "48"), ("4", "-1")]
)
def test_bad_group_size_is_a_usage_error(bits, group, capsys):
    assert main(["qigen", "generate", "hi", "--bits", bits, "--group-size", group]) == 2
    err = capsys.readouterr().err
    assert "--group-size" in err and "multiple of" in err
