"""ferry functions in PySpark: a column function for `select`, and
`mapInArrow`. Both run a scalar function (`#[ferry::udf]`) once per Arrow
batch; no Python runs per row.

>>> from ferry import spark as ferry_spark
>>> gcd = ferry_spark.udf(udfs.closure("gcd"))
>>> df.select(gcd("a", "b"))
>>> ferry_spark.map_in_arrow(df, udfs.closure("gcd"), ["a", "b"], "g")
"""

import pyarrow as pa
from pyspark.sql.functions import arrow_udf
from pyspark.sql.pandas.types import from_arrow_type
from pyspark.sql.types import StructField, StructType

from ferry._columns import arrays


def udf(closure, **sandbox):
    """A column function that runs `closure` on each batch of its argument
    columns, in `closure`'s sandbox as set by the keyword arguments."""
    _, returns = closure.arrow_signature()

    def call(*columns: pa.Array) -> pa.Array:
        return closure.call_arrow(list(columns), **sandbox)

    call.__name__ = closure.function
    return arrow_udf(call, from_arrow_type(returns))


def map_in_arrow(df, closure, columns, output, **sandbox):
    """`df` with a column `output` appended: `closure` on `columns`, one
    guest call per Arrow batch, through `DataFrame.mapInArrow`."""
    _, returns = closure.arrow_signature()
    # A new schema: `df.schema.add` would change the frame's own.
    schema = StructType(df.schema.fields + [StructField(output, from_arrow_type(returns))])

    def run(batches):
        for batch in batches:
            result = closure.call_arrow(arrays(batch, columns), **sandbox)
            yield batch.append_column(output, result)

    return df.mapInArrow(run, schema)
