"""ferry functions in Ray: a closure as a remote task, and as a
`ray.data` batch function. A closure pickles as its ferry bytes, so Ray ships
it by value; its module is compiled once per worker process.

>>> from ferry import ray as ferry_ray
>>> add = ferry_ray.remote(guest.closure("add"))
>>> ray.get(add.remote(40, 2))
42
>>> ds.map_batches(ferry_ray.batch_function(udfs.closure("gcd"), ["a", "b"], "g"), batch_format="pyarrow")
"""

import ray

from ferry._columns import arrays


def remote(closure, **ray_options):
    """A Ray remote function that calls `closure` with its arguments."""

    def run(*args, **sandbox):
        return closure(*args, **sandbox)

    run.__name__ = closure.function
    return ray.remote(**ray_options)(run) if ray_options else ray.remote(run)


def batch_function(closure, columns, output, **sandbox):
    """For `Dataset.map_batches(..., batch_format="pyarrow")`: each batch with
    `output` appended, `closure` run on `columns` in one guest call."""

    def run(batch):
        result = closure.call_arrow(arrays(batch, columns), **sandbox)
        return batch.append_column(output, result)

    return run
