"""Kernel microbenchmarks and calibration: measure -> fit -> validate.

* `harness` times kernels (warm-up, repetitions, median and spread) and writes measurement CSVs with environment
  metadata; it needs only the standard library and numpy (plus torch for the torch backend, `backends`), so it runs
  on a bare GPU box.
* `measurements` reads and checks those files (units in column names, no NaNs, device).
* `fit` fits the profile's efficiency curves with the same roofline/comm functions the training model uses and picks
  the form with the lowest held-out error; `validate` splits by shape family and reports per-family error and a
  predicted-vs-measured plot; `writeback` writes a fit into the profile file.
* `kernel` predicts one kernel on one profile (``simulator kernel``).

The names below are this package's public interface (imported on first use, so `calibrate run` loads only what it
needs); the `simulator calibrate` commands use nothing else.
"""

from __future__ import annotations

from simulator.lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, str]] = {
    "BackendUnavailable": ("harness", "BackendUnavailable"),
    "Timing": ("harness", "Timing"),
    "run_suite": ("harness", "run_suite"),
    "write_csv": ("harness", "write_csv"),
    "make_backend": ("backends", "make_backend"),
    "read_many": ("measurements", "read_many"),
    "validate_measurements": ("validate", "validate"),
    "format_report": ("validate", "format_report"),
    "plot_validation": ("validate", "plot"),
    "write_fit": ("writeback", "write_fit"),
    "predict_kernel": ("kernel", "predict_kernel"),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports("simulator.calibrate", _EXPORTS, globals())
