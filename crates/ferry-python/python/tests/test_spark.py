"""PySpark, in local mode with two cores: a ferry column function in
`select`, `mapInArrow`, and the histogram as a map-reduce over an RDD. Each
result is checked row by row."""

import math
import os
import sys

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from conftest import HISTOGRAM, haversine, ranges
from ferry import spark as ferry_spark


@pytest.fixture(scope="module")
def spark():
    # Spark's Python workers run this interpreter, with this environment.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("ferry-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    yield session
    session.stop()


def numbers(spark, n):
    return spark.range(n, numPartitions=4).select(
        (F.rand(1) * 2e12 - 1e12).cast("bigint").alias("a"),
        (F.rand(2) * 2e6 - 1e6).cast("bigint").alias("b"),
        (F.rand(3) * 180 - 90).alias("lat1"),
        (F.rand(4) * 360 - 180).alias("lon1"),
        (F.rand(5) * 180 - 90).alias("lat2"),
        (F.rand(6) * 360 - 180).alias("lon2"),
    )


def test_a_ferry_column_function_in_select(spark, udfs):
    df = numbers(spark, 50_000)
    gcd = ferry_spark.udf(udfs.closure("gcd"))
    dist = ferry_spark.udf(udfs.closure("haversine"))
    rows = df.select("*", gcd("a", "b").alias("g"), dist("lat1", "lon1", "lat2", "lon2").alias("d")).collect()
    assert len(rows) == 50_000
    for r in rows:
        assert r.g == math.gcd(r.a, r.b)
        assert r.d == pytest.approx(haversine(r.lat1, r.lon1, r.lat2, r.lon2), rel=1e-12)


def test_map_in_arrow(spark, udfs):
    df = numbers(spark, 50_000)
    rows = ferry_spark.map_in_arrow(df, udfs.closure("gcd"), ["a", "b"], "g").collect()
    assert len(rows) == 50_000
    assert all(r.g == math.gcd(r.a, r.b) for r in rows)


def test_histogram_map_reduce_over_an_rdd(spark, guest):
    fill = guest.closure("fill", env=HISTOGRAM)
    merge = guest.closure("merge")
    rdd = spark.sparkContext.parallelize(ranges(40_000, 8), 4)
    assert rdd.map(fill).reduce(merge) == fill({"start": 0, "end": 40_000})
