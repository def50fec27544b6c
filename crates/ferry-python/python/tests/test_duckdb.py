"""DuckDB runs ferry functions as Arrow UDFs, equal to its own on every row."""

import duckdb

from ferry import duckdb as ferry_duckdb


def test_gcd_and_haversine_equal_duckdbs_own(udfs):
    con = duckdb.connect()
    con.execute("SELECT setseed(0.25)")
    con.execute(
        "CREATE TABLE t AS SELECT "
        "(random() * 2e12 - 1e12)::BIGINT AS a, (random() * 2e6 - 1e6)::BIGINT AS b, "
        "random() * 180 - 90 AS lat1, random() * 360 - 180 AS lon1, "
        "random() * 180 - 90 AS lat2, random() * 360 - 180 AS lon2 "
        "FROM range(200000)"
    )
    ferry_duckdb.register(con, "ferry_gcd", udfs.closure("gcd"))
    ferry_duckdb.register(con, "ferry_haversine", udfs.closure("haversine"))

    differ = con.execute("SELECT count(*) FROM t WHERE ferry_gcd(a, b) <> gcd(abs(a), abs(b))").fetchone()
    assert differ == (0,)
    worst = con.execute(
        "SELECT max(abs(ferry_haversine(lat1, lon1, lat2, lon2) - d) / d) FROM ("
        "  SELECT *, 2 * 6371.0088 * asin(sqrt("
        "    pow(sin(radians(lat2 - lat1) / 2), 2)"
        "    + cos(radians(lat1)) * cos(radians(lat2)) * pow(sin(radians(lon2 - lon1) / 2), 2)"
        "  )) AS d FROM t)"
    ).fetchone()[0]
    assert worst < 1e-12
    assert con.execute("SELECT count(*), count(ferry_gcd(a, NULL)) FROM t").fetchone() == (200000, 0)
