"""Gittins indices computed by calibration against published tables.

Reference values: Gittins, Glazebrook & Weber 2011, "Multi-armed Bandit Allocation
Indices", Bernoulli/Beta(1, 1) tables, as reproduced (4 decimals, records of wins-losses
starting from the uniform prior) in Christian & Griffiths 2016, "Algorithms to Live By",
ch. 2: discount 0.9: 0-0 -> 0.7029, 1-1 -> 0.6346, 2-2 -> 0.6010, 9-1 -> 0.8695;
discount 0.99: 0-0 -> 0.8699.
"""

import numpy as np
import pytest

from purerl.baselines.gittins import gittins_index_table


@pytest.fixture(scope="module")
def table_09():
    return gittins_index_table(0.9, 10)


def test_published_values_discount_0_9(table_09):
    # Table entries are rounded to 4 decimals: allow the rounding plus 5e-5.
    for (wins, losses), published in {(0, 0): 0.7029, (1, 1): 0.6346, (2, 2): 0.6010,
                                      (9, 1): 0.8695}.items():
        assert abs(table_09[wins, losses] - published) < 1e-4, (wins, losses)


def test_published_value_discount_0_99():
    table = gittins_index_table(0.99, 1, num_lambdas=401)
    assert abs(table[0, 0] - 0.8699) < 1e-4


def test_index_properties(table_09):
    valid = ~np.isnan(table_09)
    s, f = np.nonzero(valid)
    mean = (1 + s) / (2 + s + f)
    # The index is at least the posterior mean (retiring at the mean is always available)
    # and at most 1; it grows with a success and shrinks with a failure.
    assert np.all(table_09[s, f] >= mean - 1e-6) and np.all(table_09[s, f] <= 1.0)
    assert np.all(table_09[1:10, 0] > table_09[0:9, 0])
    assert np.all(table_09[0, 1:10] < table_09[0, 0:9])
    assert np.isnan(table_09[10, 1])  # s + f > max_pulls is outside the table


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="discount: expected"):
        gittins_index_table(1.0, 5)
    with pytest.raises(ValueError, match="max_pulls: expected"):
        gittins_index_table(0.9, -1)
