"""Kernel microbenchmarks and calibration: measure -> fit -> validate.

* :mod:`.harness` times kernels (warm-up, repetitions, median and spread) and writes measurement
  CSVs with environment metadata; it needs only the standard library and numpy (plus torch for
  the torch backend), so it runs on a bare GPU box.
* :mod:`.measurements` reads and checks those files (units in column names, no NaNs, device).
* :mod:`.fit` fits the profile's efficiency curves with the same roofline/comm functions the
  training model uses and picks the form with the lowest held-out error.
* :mod:`.validate` splits by shape family, reports per-family error and a predicted-vs-measured plot.
* :mod:`.kernel` predicts one kernel on one profile (``simulator kernel``).

Nothing here is imported by ``simulator/__init__.py``; import the submodules directly.
"""
