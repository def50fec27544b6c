"""Ray, a local cluster of worker processes: closures as remote tasks, the
histogram as a map-reduce of tasks, and a scalar function over `ray.data`
batches."""

import math
import random

import pyarrow as pa
import pytest
import ray

import ferry

from conftest import HISTOGRAM, ranges
from ferry import ray as ferry_ray


@pytest.fixture(scope="module")
def cluster(guest):
    # ferry first, Ray after: Ray's crash handlers then sit over wasmtime's.
    assert guest.closure("add")(1, 2) == 3
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_closures_as_remote_tasks(cluster, guest):
    add = ferry_ray.remote(guest.closure("add"))
    assert ray.get([add.remote(i, 1) for i in range(10)]) == list(range(1, 11))

    fill = ferry_ray.remote(guest.closure("fill", env=HISTOGRAM))
    merge = ferry_ray.remote(guest.closure("merge"))
    parts = [fill.remote(r) for r in ranges(40_000, 8)]
    while len(parts) > 1:
        parts = [merge.remote(a, b) for a, b in zip(parts[::2], parts[1::2])] + parts[len(parts) // 2 * 2:]
    total = ray.get(parts[0])
    assert total == guest.closure("fill", env=HISTOGRAM)({"start": 0, "end": 40_000})


def test_guest_failures_reach_the_caller(cluster, guest):
    divide = ferry_ray.remote(guest.closure("divide"))
    with pytest.raises(Exception, match="cannot divide 1 by 0"):
        ray.get(divide.remote(1, 0))
    boom = ferry_ray.remote(guest.closure("boom"))
    with pytest.raises(Exception, match="panicked at .*: in a task"):
        ray.get(boom.remote("in a task"))


def test_a_trap_in_the_driver_after_ray_init_is_an_exception_not_a_crash(cluster, guest):
    # A Rust panic is a wasm trap: a signal wasmtime must still catch.
    with pytest.raises(ferry.GuestError) as failed:
        guest.closure("boom")("in the driver")
    assert failed.value.kind == "panic"
    with pytest.raises(ferry.GuestError) as failed:
        guest.closure("hog")(memory=16)
    assert failed.value.kind == "memory_limit"


def test_a_scalar_function_over_ray_data_batches(cluster, udfs):
    rng = random.Random(4)
    n = 50_000
    table = pa.table({
        "a": [rng.randrange(-10**12, 10**12) for _ in range(n)],
        "b": [rng.randrange(-10**6, 10**6) for _ in range(n)],
    })
    ds = ray.data.from_arrow(table).repartition(4)
    mapped = ds.map_batches(
        ferry_ray.batch_function(udfs.closure("gcd"), ["a", "b"], "g"), batch_format="pyarrow"
    )
    out = pa.concat_tables(mapped.iter_batches(batch_format="pyarrow"))
    rows = sorted(zip(out["a"].to_pylist(), out["b"].to_pylist(), out["g"].to_pylist()))
    assert len(rows) == n
    assert all(g == math.gcd(a, b) for a, b, g in rows)
