"""Every row of the bad-input table on docs/errors.md, run as a test.

The page is the single source: each row names an example call and what it gets, either an
error ("`ValueError`: message start") or "no error ...: `condition on result`" (a row that says it
gives "a `UserWarning`" must warn). A call written
``with checks(): call`` runs with the value checks on, as it reads.
"""

from __future__ import annotations

import contextlib
import functools
import re
from pathlib import Path

import pytest
import torch

from selfattention import checks

PAGE = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
WITH_CHECKS = "with checks(): "
ROW = re.compile(r"^\| (?P<number>\d+) \| (?P<case>[^|]+) \| `(?P<call>[^`]+)` \| (?P<gets>.+) \|$")


def rows() -> list[dict[str, str]]:
    found = [match.groupdict() for line in PAGE.read_text(encoding="utf-8").splitlines() if (match := ROW.match(line))]
    assert [int(row["number"]) for row in found] == list(range(1, len(found) + 1)), "rows must be numbered 1, 2, ..."
    return found


@functools.cache
def setup_code() -> str:
    """The code of the page's first block, which defines the names its table uses."""
    block = PAGE.read_text(encoding="utf-8").split("```python\n", 1)[1].split("```", 1)[0]
    return "\n".join(line[4:] for line in block.splitlines() if line.startswith((">>> ", "... ")))


def namespace() -> dict[str, object]:
    """The names the page defines before the table, fresh for each row: its first block's code, run."""
    names: dict[str, object] = {}
    exec(setup_code(), names)  # the page's own setup code
    return names


def test_the_table_covers_what_the_issue_lists():
    cases = " ".join(row["case"].lower() for row in rows())
    kinds = [
        "rank",
        "integer dtype",
        "mask of the wrong shape",
        "mask of an integer dtype",
        "nan",
        "infinity",
        "empty sequence",
        "num_heads",
        "block_size",
        "dropout",
        "differ",
    ]
    for kind in kinds:
        assert kind in cases, kind
    assert len(rows()) >= 30


@pytest.mark.parametrize("row", rows(), ids=lambda row: f"row {row['number']}: {row['case']}")
def test_row(row):
    names = namespace()
    call = row["call"].removeprefix(WITH_CHECKS)
    mode = checks(enabled=call != row["call"])  # the default mode unless the row says otherwise
    error = re.match(r"`(ValueError|TypeError)`: (.+)$", row["gets"])
    if error:
        expected_type = {"ValueError": ValueError, "TypeError": TypeError}[error.group(1)]
        with mode, pytest.raises(expected_type) as raised:
            eval(call, names)
        message = str(raised.value)
        assert message.startswith(error.group(2)), f"{message} does not start with {error.group(2)!r}"
    else:
        condition = re.match(r"no error.*: `(.+)`$", row["gets"])
        assert condition, f"row {row['number']}: say the error, or 'no error: `condition`'"
        warns = "a `UserWarning`" in row["gets"]  # the row says that it warns: check that it does
        with mode, pytest.warns(UserWarning) if warns else contextlib.nullcontext():
            names["result"] = eval(call, names)
        result = names["result"]
        if isinstance(result, torch.Tensor) and not result.is_meta and "isnan" not in condition.group(1):
            assert not torch.isnan(names["result"]).any()
        assert eval(condition.group(1), names), condition.group(1)
