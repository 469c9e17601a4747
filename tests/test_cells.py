"""Whole-column cell readings agree with the per-cell ones (blank, to_str, to_number)."""

import math
import sys

import pandas as pd
import pytest

from prodsched.inputs.cells import PY_WHITESPACE, blank, blank_cells, number_cells, text_cells, to_number, to_str

ODD_TEXTS = [" 12 ", "\u30001,234.5\u3000", "\x1c7\x1f", "\x85 8 \xa0", "\u2009\u202f", "\u200b9", "1_000",
             " ,", "x y", "\t\n", "", "인쇄 ", " nan", "inf", None, float("nan"), "\u20055e3\u2028"]


def test_the_whitespace_arrow_trims_is_what_str_strip_removes():
    assert set(PY_WHITESPACE) == {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}


NUMBER_TEXTS = [t for t in ODD_TEXTS if t not in ("\u200b9", "x y", "인쇄 ")]  # every text reads as a float


@pytest.mark.parametrize("texts", [ODD_TEXTS, NUMBER_TEXTS, ODD_TEXTS + ["\ud800 lone surrogate"],
                                   NUMBER_TEXTS + ["\ud800"]],
                         ids=["utf8", "numbers", "lone-surrogate", "numbers-lone-surrogate"])
def test_column_readings_match_each_cell(texts):
    column = pd.Series(texts, dtype=object)
    assert blank_cells(column).tolist() == [blank(v) for v in texts]
    assert text_cells(column).tolist() == [to_str(v) for v in texts]
    numbers = number_cells(column).tolist()
    expected = [to_number(v) for v in texts]
    assert [("nan" if math.isnan(v) else v) for v in numbers] == [("nan" if math.isnan(v) else v) for v in expected]
