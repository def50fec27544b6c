"""ferry functions in Dask. A closure is a picklable callable, so a bag maps
it as it is (`bag.map(closure)`); for dataframes, `map_partitions` runs a
scalar function on each partition in one guest call.

>>> from ferry import dask as ferry_dask
>>> ferry_dask.map_partitions(ddf, udfs.closure("gcd"), ["a", "b"], "g")
"""

import pyarrow as pa

from ferry._columns import arrays


def map_partitions(ddf, closure, columns, output, **sandbox):
    """`ddf` with a column `output`: `closure` on `columns`, partition by
    partition."""
    _, returns = closure.arrow_signature()

    def run(partition):
        table = pa.Table.from_pandas(partition[columns], preserve_index=False)
        result = closure.call_arrow(arrays(table, columns), **sandbox)
        return partition.assign(**{output: result.to_numpy(zero_copy_only=False)})

    meta = ddf._meta.assign(**{output: pa.array([], returns).to_pandas()})
    return ddf.map_partitions(run, meta=meta)
