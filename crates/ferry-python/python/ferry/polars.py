"""ferry functions in Polars: an expression that runs a scalar function on
each batch of its input columns, one guest call per batch.

>>> from ferry import polars as ferry_polars
>>> df.with_columns(g=ferry_polars.expr(udfs.closure("gcd"), "a", "b"))
"""

import polars as pl
import pyarrow as pa


def expr(closure, *columns, **sandbox):
    """A Polars expression: `closure` applied to the named columns."""
    _, returns = closure.arrow_signature()

    def call(series):
        result = closure.call_arrow([s.to_arrow() for s in series], **sandbox)
        return pl.Series(result)

    dtype = pl.Series(pa.array([], returns)).dtype
    return pl.map_batches(list(columns), call, return_dtype=dtype)
