"""Dask maps a closure as it is over a bag, and a scalar function over a
dataframe's partitions."""

import math
import random

import dask
import dask.bag as db
import dask.dataframe as dd
import pandas as pd

from conftest import HISTOGRAM, ranges
from ferry import dask as ferry_dask


def test_histogram_map_reduce_over_a_bag_in_processes(guest):
    fill = guest.closure("fill", env=HISTOGRAM)
    merge = guest.closure("merge")
    bag = db.from_sequence(ranges(40_000, 8), npartitions=4)
    with dask.config.set(scheduler="processes", num_workers=2):
        total = bag.map(fill).fold(merge).compute()
    assert total == fill({"start": 0, "end": 40_000})


def test_gcd_over_dataframe_partitions(udfs):
    rng = random.Random(9)
    n = 50_000
    pdf = pd.DataFrame({
        "a": [rng.randrange(-10**12, 10**12) for _ in range(n)],
        "b": [rng.randrange(-10**6, 10**6) for _ in range(n)],
    })
    ddf = dd.from_pandas(pdf, npartitions=5)
    out = ferry_dask.map_partitions(ddf, udfs.closure("gcd"), ["a", "b"], "g").compute()
    assert out["g"].tolist() == [math.gcd(a, b) for a, b in zip(pdf["a"], pdf["b"])]
