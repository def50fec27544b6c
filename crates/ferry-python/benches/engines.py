"""ferry from Python against what a Python user would write instead, each
pair in one process on the same data; the figures are in docs/perf.md.

  1. PySpark (local[2]): `gcd(a, b)` over ROWS rows through ferry's column
     function, a plain Python UDF (`math.gcd` per row) and a pandas UDF
     (`numpy.gcd` per batch), beside an Arrow UDF that returns its input:
     the cost of Spark's Python UDF machinery alone.
  2. DuckDB: the same through ferry's Arrow UDF, a DuckDB Python UDF, and
     DuckDB's own `gcd`.
  3. `call_arrow` on 1M rows in batches of 8192, the rows of
     `ferry_test_support::int64_batches`: compare with
     `cargo bench -p ferry-sql --bench sql -- array_function` (Rust).

Run after `cargo test --workspace` has built and staged the package:

  PYTHONPATH=target/debug/python-site target/debug/python-venv/bin/python \\
    crates/ferry-python/benches/engines.py target/wasm32-wasip1/release/ferry_example_udfs.wasm [ROWS]
"""

import math
import os
import statistics
import sys
import time

import numpy as np
import pyarrow as pa

import ferry


def median_seconds(run, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(title, results):
    print(f"\n{title}")
    base = results[0][1]
    for name, seconds in results:
        print(f"  {name:<32} {seconds * 1000:10.1f} ms   {seconds / base:6.2f}x ferry")


def spark(gcd, rows):
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.functions import arrow_udf, pandas_udf, udf

    from ferry import spark as ferry_spark

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
    )
    df = session.range(rows, numPartitions=4).select(
        (F.rand(1) * 1e9).cast("bigint").alias("a"), (F.rand(2) * 1e5 + 1).cast("bigint").alias("b")
    ).cache()
    df.count()

    python_gcd = udf(lambda a, b: math.gcd(a, b), "bigint")

    @pandas_udf("bigint")
    def pandas_gcd(a, b):
        return np.gcd(a, b)

    # What Spark's Arrow UDF machinery costs with no work at all.
    @arrow_udf("bigint")
    def arrow_floor(a: pa.Array, b: pa.Array) -> pa.Array:
        return a

    def total(f):
        return lambda: df.select(F.sum(f("a", "b"))).collect()

    expected = total(pandas_gcd)()
    assert total(ferry_spark.udf(gcd))() == expected
    results = [
        (name, median_seconds(total(f), 3))
        for name, f in [
            ("ferry column function", ferry_spark.udf(gcd)),
            ("plain Python UDF", python_gcd),
            ("pandas UDF (numpy.gcd)", pandas_gcd),
            ("Arrow UDF returning its input", arrow_floor),
        ]
    ]
    session.stop()
    report(f"PySpark, gcd over {rows:,} rows (sum of the results)", results)


def duckdb(gcd, rows):
    import duckdb as ddb

    from ferry import duckdb as ferry_duckdb

    con = ddb.connect()
    con.execute("SELECT setseed(0.5)")
    con.execute(
        f"CREATE TABLE t AS SELECT (random() * 1e9)::BIGINT AS a, (random() * 1e5 + 1)::BIGINT AS b "
        f"FROM range({rows})"
    )
    ferry_duckdb.register(con, "ferry_gcd", gcd)
    con.create_function("python_gcd", lambda a, b: math.gcd(a, b), ["BIGINT", "BIGINT"], "BIGINT")
    query = "SELECT sum({}(a, b)) FROM t"
    expected = con.execute(query.format("gcd")).fetchone()
    assert con.execute(query.format("ferry_gcd")).fetchone() == expected
    results = [
        (name, median_seconds(lambda f=f: con.execute(query.format(f)).fetchone(), 3))
        for name, f in [("ferry Arrow UDF", "ferry_gcd"), ("DuckDB Python UDF", "python_gcd"), ("DuckDB's gcd", "gcd")]
    ]
    report(f"DuckDB, gcd over {rows:,} rows (sum of the results)", results)


def int64_batches(rows, batch):
    """The rows of ferry_test_support::int64_batches: the same xorshift."""
    mask = (1 << 64) - 1
    state = 0x9E3779B97F4A7C15
    a, b = [], []
    for _ in range(rows):
        for out, modulus, offset in ((a, 1_000_000_000, 0), (b, 100_000, 1)):
            state ^= (state << 13) & mask
            state ^= state >> 7
            state ^= (state << 17) & mask
            out.append(state % modulus + offset)
    a, b = pa.array(a, pa.int64()), pa.array(b, pa.int64())
    return [[a.slice(i, batch), b.slice(i, batch)] for i in range(0, rows, batch)]


def batches(gcd):
    data = int64_batches(1_000_000, 8192)

    def run():
        for batch in data:
            gcd.call_arrow(batch)

    seconds = median_seconds(run, 20)
    print(f"\ncall_arrow: gcd over 1,000,000 rows in batches of 8192: {seconds * 1000:.2f} ms")


def main():
    udfs = ferry.Module.from_file(sys.argv[1])
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
    gcd = udfs.closure("gcd")
    batches(gcd)
    duckdb(gcd, rows)
    spark(gcd, rows)


if __name__ == "__main__":
    main()
