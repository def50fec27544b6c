"""Scalar functions on Arrow data: one guest call per batch, arguments
converted as SQL converts them, nulls kept, results equal to Python's own."""

import math
import random

import pyarrow as pa
import pytest

import ferry
from conftest import haversine


def test_gcd_over_a_batch_equals_python(udfs):
    rng = random.Random(11)
    a = [rng.randrange(-10**12, 10**12) for _ in range(10_000)]
    b = [rng.randrange(-10**6, 10**6) for _ in range(10_000)]
    out = udfs.closure("gcd").call_arrow([pa.array(a), pa.array(b)])
    assert out.type == pa.int64()
    assert out.to_pylist() == [math.gcd(x, y) for x, y in zip(a, b)]


def test_haversine_over_a_record_batch(udfs):
    rng = random.Random(5)
    cols = [[rng.uniform(-90, 90) for _ in range(1000)] for _ in range(4)]
    batch = pa.RecordBatch.from_arrays([pa.array(c) for c in cols], names=["a", "b", "c", "d"])
    out = udfs.closure("haversine").call_arrow(batch).to_pylist()
    for got, row in zip(out, zip(*cols)):
        assert got == pytest.approx(haversine(*row), rel=1e-12)


def test_nulls_conversions_and_environments(udfs):
    sums = udfs.closure("sum_present").call_arrow([pa.array([1, None, None]), pa.array([2, 3, None])])
    assert sums.to_pylist() == [3, 3, None]
    # int32 columns convert to the function's int64; a null row stays null.
    out = udfs.closure("gcd").call_arrow([pa.array([12, None], pa.int32()), pa.array([18, 4], pa.int32())])
    assert out.to_pylist() == [6, None]
    fahrenheit = udfs.closure("scale", env=1.8).call_arrow(pa.array([10.0, -5.0]))
    assert fahrenheit.to_pylist() == [18.0, -9.0]
    assert udfs.closure("normalize").call_arrow(pa.array(["  Ferry  BOAT "])).to_pylist() == ["ferry boat"]


def test_batches_that_do_not_fit_are_refused_clearly(udfs, guest):
    gcd = udfs.closure("gcd")
    with pytest.raises(ferry.FerryError, match="takes 2 columns"):
        gcd.call_arrow([pa.array([1])])
    with pytest.raises(ferry.FerryError, match="does not convert from Utf8"):
        gcd.call_arrow([pa.array(["x"]), pa.array([1])])
    with pytest.raises(ferry.FerryError, match="value function"):
        guest.closure("add").call_arrow([pa.array([1]), pa.array([2])])
    with pytest.raises(TypeError, match="ChunkedArray"):
        gcd.call_arrow([pa.chunked_array([[1]]), pa.array([1])])
    with pytest.raises(ferry.GuestError) as failed:
        udfs.closure("checked_div").call_arrow([pa.array([1, 2]), pa.array([1, 0])])
    assert failed.value.kind == "error"
