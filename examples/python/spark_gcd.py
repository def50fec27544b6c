"""A Spark job running a Rust function: `gcd` from examples/udfs, built from
source, shipped to Spark's Python workers inside the closure, and run there
in ferry's sandbox, one guest call per Arrow batch.

    python examples/python/spark_gcd.py [ROWS]
"""

import math
import os
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import ferry
from ferry import spark as ferry_spark

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000

udfs = ferry.load(os.path.join(os.path.dirname(__file__), "..", "udfs"))  # cargo builds it
gcd = ferry_spark.udf(udfs.closure("gcd"))

spark = SparkSession.builder.master("local[2]").appName("ferry gcd").getOrCreate()
spark.sparkContext.setLogLevel("ERROR")
df = spark.range(rows).select(
    (F.col("id") * 7919 % 1_000_003).alias("a"), (F.col("id") % 9973 + 1).alias("b")
)
out = df.select("a", "b", gcd("a", "b").alias("gcd"))
out.show(5)
check = out.limit(1000).collect()
assert all(r.gcd == math.gcd(r.a, r.b) for r in check)
print(f"gcd of {rows:,} pairs in Spark, through ferry: checked")
spark.stop()
