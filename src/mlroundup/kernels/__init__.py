"""Shared kernel machinery, free of any method's logic.

* CPU model, instruction-set features and cache sizes live in the shared utility layer,
  :mod:`mlroundup.utils.cpu`;
* :mod:`mlroundup.kernels.build`: compile generated C at first use, cache it per user, load it with
  :mod:`ctypes` and pass NumPy arrays without copying;
* :mod:`mlroundup.kernels.autotune`: time candidates (warm-up, median of repeats) and remember the
  winner per (CPU, kernel, shape, format);
* :mod:`mlroundup.kernels.pool`: a persistent worker pool, ``parallel_for(n_tasks, fn, ctx)`` in C,
  that compiled kernels call instead of starting threads per call.
"""
