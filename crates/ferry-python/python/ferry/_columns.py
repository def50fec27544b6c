"""What the adapters share: a batch's argument columns as the arrays a
closure's `call_arrow` takes."""

import pyarrow as pa


def arrays(table, columns):
    """The named columns of a pyarrow Table or RecordBatch as Arrays (a
    Table's chunked columns joined, which copies only if there are several
    chunks)."""
    out = []
    for name in columns:
        column = table.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        out.append(column)
    return out
