"""NumPy compatibility for numba.cuda: numba-cuda may still reference `np.row_stack`, which
NumPy 2.x removed. Call `numpy_compat()` before the first `import numba.cuda`."""

from __future__ import annotations

import numpy as np


def numpy_compat() -> None:
    """Alias `np.row_stack` to `np.vstack` where NumPy removed it (only if missing)."""
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack  # type: ignore[attr-defined]
