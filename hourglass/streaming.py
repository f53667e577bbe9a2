"""Data larger than memory: row chunks over memory-mapped arrays, with their pages released.

``np.load("big.npy", mmap_mode="r")`` maps a file without reading it, but every page the process
touches stays mapped, so reading the whole array once grows the process's resident memory to the
file's size. Scoring and training therefore walk a memory-mapped array in chunks of rows and,
after each chunk, tell the kernel (``madvise(MADV_DONTNEED)``) that the chunk's pages are no longer
needed: they leave this process (the kernel may keep them in its page cache, which is reclaimable
and not ours), and peak memory stays bounded by the chunk size whatever the number of rows.
Only read-only mappings are released: a writable one may hold changes the user has not saved.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import numpy as np
import torch

# Bytes of input per chunk: large enough that per-chunk overhead vanishes, small enough to bound
# memory (the chunk, its scaled copy and the model's outputs live at once). Arrays of more rows
# than STREAM_ROWS are scored in chunks even when they are in memory.
STREAM_BYTES = 16 * 2**20
STREAM_ROWS = 65536


def chunk_rows(x) -> int:
    """Rows per chunk of ``x``: about STREAM_BYTES of float32 input."""
    row_bytes = int(np.prod(x.shape[1:], dtype=np.int64)) * 4
    return int(max(64, min(STREAM_ROWS, STREAM_BYTES // max(1, row_bytes))))


def is_mapped(x) -> bool:
    """A read-only memory-mapped NumPy array (``np.load(..., mmap_mode="r")`` or ``np.memmap``)."""
    return isinstance(x, np.memmap) and getattr(x, "_mmap", None) is not None and x.mode == "r"


def should_stream(x) -> bool:
    return isinstance(x, np.ndarray) and x.ndim > 0 and (is_mapped(x) or len(x) > STREAM_ROWS)


def release_rows(x, lo: int, hi: int) -> None:
    """Drop the pages of rows ``lo:hi`` of a read-only memory-mapped array from this process."""
    if not is_mapped(x) or not x.flags.c_contiguous or not hasattr(mmap, "MADV_DONTNEED"):
        return
    mm = x._mmap
    try:
        base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
    except (TypeError, ValueError, BufferError):  # a closed or unusual mapping: leave it alone
        return
    row_bytes = x.strides[0] if x.ndim else x.itemsize
    start = x.ctypes.data - base + lo * row_bytes
    end = min(x.ctypes.data - base + hi * row_bytes, len(mm))
    start -= start % mmap.PAGESIZE
    if end > start:
        mm.madvise(mmap.MADV_DONTNEED, start, end - start)


def row_chunks(x, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(offset, chunk)`` over the rows of ``x`` (``chunk_rows(x)`` rows each by default); a
    memory-mapped array's chunks are copied out and their pages released, so at most one chunk is
    resident at a time."""
    rows = rows or chunk_rows(x)
    for lo in range(0, len(x), rows):
        hi = min(lo + rows, len(x))
        chunk = x[lo:hi]
        if is_mapped(x):
            chunk = np.array(chunk)
            release_rows(x, lo, hi)
        yield lo, chunk


class MappedRows:
    """Training rows left in a memory-mapped file: batches are gathered from it on the host and
    moved to the device, in the order the trainer asks for, so training streams over a file larger
    than memory and gives exactly the result of training on the same rows held in memory. Shuffled
    rows are scattered over the file, each on pages of its own: the pages touched are released
    whenever they could add up to one chunk's worth of memory, and by :meth:`release`."""

    def __init__(self, x: np.ndarray, shape: tuple[int, ...], device: torch.device, memory_format):
        self.x, self.shape, self.device, self.memory_format = x, tuple(shape), device, memory_format
        self._gathered = 0
        row_bytes = int(np.prod(x.shape[1:], dtype=np.int64)) * x.itemsize
        pages_per_row = -(-row_bytes // mmap.PAGESIZE) + 1  # a row may straddle a page boundary
        self._release_every = max(1, STREAM_BYTES // (pages_per_row * mmap.PAGESIZE))

    def __len__(self) -> int:
        return len(self.x)

    def _to_device(self, rows: np.ndarray) -> torch.Tensor:
        self._gathered += len(rows)
        if self._gathered >= self._release_every:
            self.release()
        arr = np.ascontiguousarray(rows, dtype=np.float32).reshape((len(rows), *self.shape))
        return torch.from_numpy(arr).to(self.device).contiguous(memory_format=self.memory_format)

    def __getitem__(self, index: slice) -> torch.Tensor:
        return self._to_device(self.x[index])

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        assert dim == 0
        return self._to_device(np.take(self.x, index.cpu().numpy(), axis=0))

    def release(self) -> None:
        release_rows(self.x, 0, len(self.x))
        self._gathered = 0

    def head(self, rows: int = STREAM_ROWS) -> torch.Tensor:
        """The first ``rows`` rows on the device (for statistics such as a VAE's initial std)."""
        return self[:rows]
