"""Krippendorff's alpha: how far raters agree beyond chance, with missing ratings allowed.

Computed from the coincidence matrix as in Krippendorff (2011), "Computing Krippendorff's
Alpha-Reliability" (University of Pennsylvania, ScholarlyCommons):

    o_ck  = sum over units u of (number of c-k pairs of values in u) / (m_u - 1)
    n_c   = sum_k o_ck,  n = sum_c n_c  (the pairable values)
    alpha = 1 - D_o / D_e = 1 - (n - 1) * sum_ck o_ck delta2_ck / sum_ck n_c n_k delta2_ck

A unit (here: one answer rated by several raters on one criterion) with fewer than two values
cannot be paired and is left out. The level sets the difference delta2 between two values:

    nominal   0 if equal, else 1 (categories: the A/B choices)
    ordinal   (sum of n_g for g from c to k - (n_c + n_k) / 2) ** 2, values in rank order: only the
              order counts, and a gap is wide when many values lie between (Likert scores)
    interval  (c - k) ** 2

alpha is 1 for perfect agreement, 0 for agreement at chance level, below 0 for systematic
disagreement. When every pairable value is the same, the expected disagreement is 0 and alpha is
undefined (0 / 0): the result then holds alpha None and a `note` saying why, for the report.

Example (Krippendorff 2011's worked example, coders as rows, nan = missing):
    >>> import numpy as np
    >>> nan = np.nan
    >>> data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    ...         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    ...         [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    ...         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]
    >>> round(krippendorff_alpha(data, "nominal").alpha, 3)
    0.743
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

Level = Literal["nominal", "ordinal", "interval"]
LEVELS = ("nominal", "ordinal", "interval")
RELIABLE = 0.8  # Krippendorff's thresholds: at or above, data are reliable
TENTATIVE = 0.667  # at or above (and below RELIABLE), only tentative conclusions

# unit -> {coder: value}, or a coders x units array with nan for a missing value
ReliabilityData = Mapping[Hashable, Mapping[Hashable, Any]] | Sequence[Sequence[float]] | np.ndarray


@dataclass(frozen=True)
class AlphaResult:
    """alpha (None when undefined, `note` says why), the level, and how much data it rests on."""

    alpha: float | None
    level: str
    pairable_units: int  # units with at least two values
    pairable_values: int  # n: the values in those units
    observed_disagreement: float | None
    expected_disagreement: float | None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def krippendorff_alpha(data: ReliabilityData, level: Level = "ordinal") -> AlphaResult:
    """Krippendorff's alpha of `data` at `level` (nominal, ordinal or interval).

    `data` is a mapping unit -> {coder: value} (a missing coder is simply absent; None counts as
    missing too) or a coders x units array with nan for missing values. Values may be numbers or,
    for the nominal level, any hashable labels ("first", "second", "tie").
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: use one of {', '.join(LEVELS)}")
    units = _units_from(data)
    pairable = [values for values in units if len(values) >= 2]
    if not pairable:
        return AlphaResult(None, level, 0, 0, None, None,
                           "no unit was rated by two or more raters, so agreement cannot be measured: "
                           "have at least two raters rate the same answers")
    categories = _categories(pairable, level)
    index = {value: i for i, value in enumerate(categories)}
    coincidences = _coincidence_matrix(pairable, index)
    value_totals = coincidences.sum(axis=1)
    total = float(value_totals.sum())
    delta2 = _squared_differences(categories, value_totals, level)
    observed = float((coincidences * delta2).sum()) / total
    expected = float((np.outer(value_totals, value_totals) * delta2).sum()) / (total * (total - 1))
    counts = dict(level=level, pairable_units=len(pairable), pairable_values=int(round(total)))
    if expected <= 0.0:
        return AlphaResult(None, observed_disagreement=observed, expected_disagreement=expected,
                           note=f"every pairable value is the same ({categories[0]!r}): with no variation, agreement "
                                "beyond chance is undefined (expected disagreement 0); rate more varied answers", **counts)
    return AlphaResult(1.0 - observed / expected, observed_disagreement=observed, expected_disagreement=expected, **counts)


def interpret_alpha(alpha: float | None) -> str:
    """Krippendorff's reading of alpha: reliable (>= 0.8), tentative (>= 0.667) or unreliable."""
    if alpha is None or not math.isfinite(alpha):
        return "undefined"
    if alpha >= RELIABLE:
        return "reliable"
    if alpha >= TENTATIVE:
        return "tentative"
    return "unreliable"


def _units_from(data: ReliabilityData) -> list[list[Any]]:
    """The values of each unit, missing ones dropped."""
    if isinstance(data, Mapping):
        return [[value for value in coders.values() if not _missing(value)] for coders in data.values()]
    array = np.asarray(data, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"reliability data must be coders x units (2-D), got shape {array.shape}")
    return [[float(value) for value in column if not math.isnan(value)] for column in array.T]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _categories(units: list[list[Any]], level: str) -> list[Any]:
    distinct = {value for values in units for value in values}
    if level == "nominal":
        return sorted(distinct, key=lambda value: (str(type(value)), value))
    try:
        return sorted(float(value) for value in distinct)
    except (TypeError, ValueError) as error:
        raise ValueError(f"the {level} level needs numeric values; use level='nominal' for labels ({error})") from None


def _coincidence_matrix(units: list[list[Any]], index: dict[Any, int]) -> np.ndarray:
    """o_ck: each ordered pair of values from different coders of a unit, weighted 1 / (m_u - 1)."""
    counts = np.zeros((len(units), len(index)))
    for row, values in enumerate(units):
        for value in values:
            counts[row, index[value]] += 1  # 3 and 3.0 are the same dict key
    weights = 1.0 / (counts.sum(axis=1) - 1.0)
    # sum_u n_uc n_uk / (m_u - 1), minus the pairs of a value with itself on the diagonal
    return (counts * weights[:, None]).T @ counts - np.diag((counts * weights[:, None]).sum(axis=0))


def _squared_differences(categories: list[Any], value_totals: np.ndarray, level: str) -> np.ndarray:
    size = len(categories)
    if level == "nominal":
        return 1.0 - np.eye(size)
    if level == "interval":
        values = np.asarray(categories, dtype=float)
        return (values[:, None] - values[None, :]) ** 2
    # ordinal: the values between c and k (both included) minus half of c's and k's own
    cumulative = np.concatenate([[0.0], np.cumsum(value_totals)])
    low, high = np.minimum.outer(np.arange(size), np.arange(size)), np.maximum.outer(np.arange(size), np.arange(size))
    between = cumulative[high + 1] - cumulative[low]
    return (between - (value_totals[:, None] + value_totals[None, :]) / 2) ** 2
