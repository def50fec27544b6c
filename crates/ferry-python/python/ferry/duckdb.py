"""ferry functions in DuckDB: a scalar function registered as an Arrow UDF,
so DuckDB hands it whole vectors and the guest runs once per vector.

>>> from ferry import duckdb as ferry_duckdb
>>> ferry_duckdb.register(con, "ferry_gcd", udfs.closure("gcd"))
>>> con.execute("SELECT ferry_gcd(a, b) FROM t").fetchall()
"""

import inspect

import pyarrow as pa

# DuckDB's names for the Arrow types ferry columns have.
_TYPES = {
    pa.bool_(): "BOOLEAN",
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.uint8(): "UTINYINT",
    pa.uint16(): "USMALLINT",
    pa.uint32(): "UINTEGER",
    pa.uint64(): "UBIGINT",
    pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE",
    pa.utf8(): "VARCHAR",
    pa.large_utf8(): "VARCHAR",
    pa.binary(): "BLOB",
    pa.date32(): "DATE",
    pa.timestamp("us"): "TIMESTAMP",
}


def register(con, name, closure, **sandbox):
    """Registers `closure`, a scalar function, on the connection `con` as
    the SQL function `name`."""
    import duckdb

    arguments, returns = closure.arrow_signature()

    def call(*columns):
        columns = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in columns]
        return closure.call_arrow(columns, **sandbox)

    # DuckDB counts the parameters the function declares.
    call.__signature__ = inspect.Signature(
        [inspect.Parameter(f"arg{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(arguments))]
    )

    con.create_function(
        name,
        call,
        [duckdb.sqltype(_TYPES[t]) for t in arguments],
        duckdb.sqltype(_TYPES[returns]),
        type="arrow",
        null_handling="special",
    )
