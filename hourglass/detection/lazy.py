"""Scoring Dask collections: a detector's per-row methods on a Dask array or Dask DataFrame
return lazy Dask results, computed block by block (partition by partition) wherever Dask runs
them: threads, processes, or the workers of a ``dask.distributed`` cluster.

The detector enters the task graph once, as one ``dask.delayed`` value that every block's task
depends on: a cluster sends it to each worker once, not with every task. It travels as Python
objects do between Dask processes (cloudpickle; its torch modules through torch's own pickling),
never through a file. Each block is scored by the detector's ordinary NumPy / pandas path, so
its checks, column matching by name and errors are those of local scoring.
"""

from __future__ import annotations

import numpy as np

from hourglass.errors import InvalidInputError

# what each method returns per row
DTYPES = {"score_samples": np.float32, "decision_function": np.float32, "predict": np.int64, "p_values": np.float64}


def is_dask(x) -> bool:
    """A Dask collection, recognised without importing Dask."""
    return type(x).__module__.split(".")[0] in ("dask", "dask_expr")


def _block(block, detector, method: str):
    return getattr(detector, method)(block)


def _partition(frame, detector, method: str):
    import pandas as pd

    return pd.Series(getattr(detector, method)(frame), index=frame.index, name=method)


def lazy(detector, x, method: str):
    """``detector.<method>(x)`` for a Dask array (rows may be chunked; each block holds whole
    samples) or DataFrame, as a lazy Dask array / Series of one value per row."""
    import dask

    dtype = DTYPES[method]
    shipped = dask.delayed(detector, pure=True, traverse=False)
    if hasattr(x, "map_partitions") and hasattr(x, "columns"):  # a Dask DataFrame
        import pandas as pd

        meta = pd.Series(np.empty(0, dtype=dtype), name=method)
        return x.map_partitions(_partition, shipped, method, meta=meta)
    import dask.array as da

    if not isinstance(x, da.Array):
        raise InvalidInputError(f"a Dask {type(x).__name__} cannot be scored; pass a Dask array or DataFrame")
    if x.ndim < 2:
        raise InvalidInputError(f"x has shape {x.shape}; expected (samples, features...)")
    x = x.rechunk({axis: -1 for axis in range(1, x.ndim)})  # a block must hold whole samples
    return da.map_blocks(
        _block, x, shipped, method, dtype=dtype, drop_axis=list(range(1, x.ndim)), meta=np.empty(0, dtype=dtype)
    )
