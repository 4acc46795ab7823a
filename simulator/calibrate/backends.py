"""The measurement backends by name: numpy (this CPU, always there) and torch (a GPU when there is one)."""

from __future__ import annotations

from simulator.calibrate.harness import Backend, BackendUnavailable


def make_backend(name: str, device: str = "auto", threads: int | None = None) -> Backend:
    """A backend by name; missing libraries or devices raise BackendUnavailable (CLI exit 2)."""
    if name == "numpy":
        from simulator.calibrate.numpy_backend import NumpyBackend

        return NumpyBackend(threads=threads)
    if name == "torch":
        from simulator.calibrate.torch_backend import TorchBackend

        return TorchBackend(device=device)
    if name == "cupy":
        raise BackendUnavailable("the cupy backend is not implemented yet; use --backend torch on a GPU")
    raise BackendUnavailable(f"unknown backend {name!r}; choose numpy, torch or cupy")
