"""ferry: functions as portable, sandboxed values.

A ferry function is WebAssembly code named by its hash; a closure is a function
with its captured environment and data, the unit that travels. Closures pickle
as their ferry bytes, so Spark, Ray and Dask ship them like any Python object,
and run them in a sandbox (no files, network, environment or clock unless
granted) at native speed.

>>> import ferry
>>> udfs = ferry.Module.from_file("ferry_example_udfs.wasm")
>>> gcd = udfs.closure("gcd")
>>> gcd.call_arrow([pa.array([12, 7]), pa.array([18, 21])])   # one guest call
>>> guest = ferry.load("examples/guest")                        # built from source
>>> guest.closure("add")(40, 2)
42
"""

from ferry._native import ABI_VERSION, Closure, FerryError, GuestError, Module, load

__all__ = ["ABI_VERSION", "Closure", "FerryError", "GuestError", "Module", "load"]
