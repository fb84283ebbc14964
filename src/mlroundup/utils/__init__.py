"""The shared utility layer: paths and cache folders, atomic file I/O, thread limits, CPU facts.

Everything here is used by the shared packages (``experiments``, ``kernels``, ``data``,
``models``, ``training``) and by the methods; it imports nothing else of mlroundup, so it can be
imported from anywhere without a circle. Modules:

* :mod:`mlroundup.utils.paths` -- :func:`~mlroundup.utils.paths.default_cache_dir`.
* :mod:`mlroundup.utils.files` -- atomic writes (file and folder fsynced), an advisory lock.
* :mod:`mlroundup.utils.threads` -- :func:`~mlroundup.utils.threads.default_threads`, scoped
  limits for BLAS and torch threads (restored on exit; nothing process-wide is left changed).
* :mod:`mlroundup.utils.cpu` -- CPU model, instruction-set features, cache sizes.
"""
