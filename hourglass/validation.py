"""Input checks shared by training, inference and detection.

Torch reports a bad input from deep inside a kernel, if at all (NaN trains silently to NaN).
These checks run once, at the API boundary, and name the problem in the user's terms.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from hourglass.errors import InvalidInputError
from hourglass.streaming import is_mapped, row_chunks


def is_frame(x) -> bool:
    """A pandas DataFrame, recognised without importing pandas."""
    return type(x).__module__.split(".")[0] == "pandas" and hasattr(x, "columns") and hasattr(x, "to_numpy")


def frame_to_array(x, feature_names=None, name: str = "x") -> np.ndarray:
    """A DataFrame's values as float32, its columns matched by name to ``feature_names`` (in that
    order) when given. Missing, unexpected, duplicated or non-numeric columns are errors that
    name them; a missing value (NaN, None, pd.NA) is an error naming its row."""
    columns = [str(c) for c in x.columns]
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise InvalidInputError(f"{name} has duplicated column names: {dupes}")
    if feature_names is not None:
        names = [str(n) for n in feature_names]
        missing = [n for n in names if n not in columns]
        extra = [c for c in columns if c not in names]
        if missing or extra:
            raise InvalidInputError(
                f"{name}'s columns do not match the features the detector was fitted on: "
                f"missing {missing}, not seen in fit {extra}"
            )
        if columns != names:  # the same columns in another order: matched by name
            x = x.iloc[:, [columns.index(n) for n in names]]
            columns = names
    text = [c for c, dtype in zip(columns, x.dtypes) if getattr(dtype, "kind", "O") not in "biuf"]
    if text:
        raise InvalidInputError(
            f"{name} has non-numeric columns {text} ({', '.join(str(x.dtypes.iloc[columns.index(c)]) for c in text)}); "
            "encode them as numbers or drop them"
        )
    return x.to_numpy(dtype=np.float32, na_value=np.nan)


def as_float_array(x, name: str = "x", offset: int = 0) -> np.ndarray:
    """Return ``x`` as a finite, non-empty float32 NumPy array, or raise a clear error.

    ``offset``: the index of ``x``'s first sample in the caller's data (when ``x`` is a chunk of
    it), so that an error names the caller's sample. A read-only memory-mapped array is checked
    chunk by chunk and returned as it is (not copied into memory; see :mod:`hourglass.streaming`)
    when it holds float32; other dtypes are converted, which reads them into memory.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if is_frame(x):
        x = frame_to_array(x, name=name)
    if x is None:
        raise InvalidInputError(f"{name} is None; expected an array of numbers")
    try:
        arr = x if is_mapped(x) else np.asarray(x)  # asarray would drop the memmap's identity
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise InvalidInputError(f"{name} could not be read as an array: {exc}") from None
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise InvalidInputError(
            f"{name} has dtype {arr.dtype}; expected numbers (int or float), not strings or Python objects"
        )
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"{name} has dtype {arr.dtype}; expected int or float")
    if arr.ndim == 0:
        raise InvalidInputError(f"{name} is a scalar; expected an array of samples")
    if arr.shape[0] == 0 or arr.size == 0:
        raise InvalidInputError(f"{name} is empty (shape {arr.shape}); expected at least one sample")
    if is_mapped(arr) and arr.dtype == np.float32:
        for start, chunk in row_chunks(arr):
            check_finite(chunk, name, offset + start)
        return arr
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    check_finite(arr, name, offset)
    return arr


def check_finite(arr: np.ndarray, name: str, offset: int = 0) -> None:
    """Raise an :class:`InvalidInputError` that counts ``arr``'s NaN / inf values and names the
    first sample holding one (``offset``: that sample's index in the caller's data)."""
    if np.isfinite(arr).all():
        return
    bad = ~np.isfinite(arr)
    rows = np.unique(np.nonzero(bad.reshape(len(arr), -1))[0])
    kind = "NaN" if np.isnan(arr).any() else "inf"
    raise InvalidInputError(
        f"{name} contains {int(bad.sum())} non-finite values ({kind}) in {len(rows)} sample(s), "
        f"first at sample {offset + int(rows[0])}; remove or impute them before training or scoring"
    )


def check_sample_shape(
    arr: np.ndarray, expected: Sequence[int], name: str = "x", axes: Sequence[str] | None = None
) -> np.ndarray:
    """Check that ``arr`` is a batch of samples of shape ``expected``.

    A batch of flat vectors is reshaped when its size matches (``(n, 784)`` for ``(1, 28, 28)``),
    a batch missing only a leading channel axis gets one (``(n, 28, 28)`` for ``(1, 28, 28)``),
    and axes of size 1 may be added or left out (``(n, 1, 140)`` for ``(140,)``). ``axes`` names
    the axes of a sample (such as ``("channels", "time steps")``) so that a mismatch is named.
    """
    expected = tuple(int(d) for d in expected)
    got = tuple(arr.shape[1:])
    if got == expected:
        return arr
    same_size = int(np.prod(got)) == int(np.prod(expected))
    squeezed = tuple(d for d in got if d != 1) == tuple(d for d in expected if d != 1)
    if same_size and (len(got) == 1 or got == expected[1:] or squeezed):
        return arr.reshape((arr.shape[0], *expected))
    if axes is not None and len(axes) == len(expected):
        full = got if len(got) == len(expected) else (1, *got) if len(got) == len(expected) - 1 else None
        if full is not None:
            wrong = [f"{axis}: {g} where the model expects {e}" for axis, g, e in zip(axes, full, expected) if g != e]
            hint = ""
            if "time steps" in axes and full[axes.index("time steps")] != expected[axes.index("time steps")]:
                hint = (
                    f". The model is built for series of {expected[axes.index('time steps')]} steps: cut a "
                    "longer recording into windows with hg.windows(series, length, stride), or build the "
                    "model for this length"
                )
            raise InvalidInputError(
                f"{name} has samples of shape {got} (array shape {arr.shape}) that do not fit the model's "
                f"{tuple(expected)} ({', '.join(axes)}): " + "; ".join(wrong) + hint
            )
    raise InvalidInputError(
        f"{name} has samples of shape {got} (array shape {arr.shape}), but the model expects "
        f"samples of shape {expected}, i.e. an array of shape (n, {', '.join(map(str, expected))})"
    )


def check_model_input(model, x, name: str = "x", offset: int = 0) -> np.ndarray:
    """``x`` as float32 samples of ``model.input_shape``: finite, non-empty, of the right shape."""
    return check_sample_shape(
        as_float_array(x, name, offset), model.input_shape, name, getattr(model, "axis_names", None)
    )


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_fraction(value, name: str, *, low_open: bool = True, high_open: bool = True) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from None
    ok_low = v > 0 if low_open else v >= 0
    ok_high = v < 1 if high_open else v <= 1
    if not (ok_low and ok_high and np.isfinite(v)):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise InvalidInputError(f"{name} must lie in {lo}0, 1{hi}, got {value!r}")
    return v
