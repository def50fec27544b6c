"""Polars runs ferry functions as batch expressions, equal to its own."""

import math
import random

import polars as pl

from ferry import polars as ferry_polars


def test_gcd_and_haversine_in_polars(udfs):
    rng = random.Random(3)
    n = 100_000
    df = pl.DataFrame({
        "a": [rng.randrange(-10**12, 10**12) for _ in range(n)],
        "b": [rng.randrange(-10**6, 10**6) for _ in range(n)],
        "lat1": [rng.uniform(-90, 90) for _ in range(n)],
        "lon1": [rng.uniform(-180, 180) for _ in range(n)],
        "lat2": [rng.uniform(-90, 90) for _ in range(n)],
        "lon2": [rng.uniform(-180, 180) for _ in range(n)],
    })
    out = df.with_columns(
        g=ferry_polars.expr(udfs.closure("gcd"), "a", "b"),
        d=ferry_polars.expr(udfs.closure("haversine"), "lat1", "lon1", "lat2", "lon2"),
    )
    assert out["g"].dtype == pl.Int64
    assert out["g"].to_list() == [math.gcd(a, b) for a, b in zip(df["a"], df["b"])]

    rad = lambda c: pl.col(c).radians()  # noqa: E731
    native = 2 * 6371.0088 * (
        ((rad("lat2") - rad("lat1")) / 2).sin().pow(2)
        + rad("lat1").cos() * rad("lat2").cos() * ((rad("lon2") - rad("lon1")) / 2).sin().pow(2)
    ).sqrt().arcsin()
    worst = out.select(((pl.col("d") - native).abs() / native).max()).item()
    assert worst < 1e-12
