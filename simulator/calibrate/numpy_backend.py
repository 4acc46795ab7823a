"""numpy backend: times BLAS GEMMs, a reference attention, streaming and elementwise kernels on the CPU."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

from simulator.calibrate import kernels as K
from simulator.calibrate.harness import BackendUnavailable, base_environment, cpu_model
from simulator.calibrate.kernels import Case

NP_DTYPES = {"fp64": np.float64, "fp32": np.float32}


def last_level_cache_bytes(default: int = 32 * 2**20) -> int:
    """Size of the largest CPU cache from sysfs (Linux); `default` elsewhere."""
    best = 0
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in os.listdir(base):
            try:
                with open(os.path.join(base, entry, "size"), encoding="utf-8") as f:
                    text = f.read().strip()
            except OSError:
                continue
            mult = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
            digits = text[:-1] if text[-1:].isalpha() else text
            if digits.isdigit():
                best = max(best, int(digits) * mult)
    except OSError:
        pass
    return best or default


def blas_info() -> str:
    """BLAS name and version numpy was built against (numpy.show_config)."""
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '?')} ({blas.get('openblas configuration', '')})".strip()
    except Exception:  # noqa: BLE001 - older numpy has no dict mode; metadata only
        return "unknown"


class NumpyBackend:
    """CPU kernels through numpy; wall-clock timing with time.perf_counter."""

    name = "numpy"

    def __init__(self, threads: int | None = None) -> None:
        if threads is not None:
            raise BackendUnavailable("numpy cannot change its BLAS thread count after start; "
                                     "set OPENBLAS_NUM_THREADS before running instead")
        self._flush_buf = np.empty(2 * last_level_cache_bytes() // 8)
        self._rng = np.random.default_rng(0)
        self._keep: list[np.ndarray] = []

    def environment(self) -> dict[str, str]:
        env = base_environment(self.name, "")
        env.update({"device": cpu_model(), "device_kind": "cpu", "blas": blas_info(),
                    "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "default")),
                    "flush_bytes": str(self._flush_buf.nbytes), "timer": "time.perf_counter"})
        return env

    def suite(self, name: str) -> list[Case]:
        return K.cpu_suite(name)

    def flush(self) -> None:
        self._flush_buf.fill(1.0)

    def time_call(self, fn: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    def release(self) -> None:
        self._keep.clear()

    def _arr(self, *shape: int, dtype: type = np.float32) -> np.ndarray:
        a: np.ndarray = self._rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
        self._keep.append(a)
        return a

    def prepare(self, case: Case) -> Callable[[], object]:
        if case.dtype not in NP_DTYPES:
            raise BackendUnavailable(f"numpy backend has no fast {case.dtype} path; use fp32 or fp64")
        dt = NP_DTYPES[case.dtype]
        if case.family == K.GEMM:
            a, b = self._arr(case.m, case.k, dtype=dt), self._arr(case.k, case.n, dtype=dt)
            c = np.empty((case.m, case.n), dtype=dt)
            return lambda: np.matmul(a, b, out=c)
        if case.family == K.ATTENTION:
            return self._attention(case, dt)
        if case.family == K.MEMORY:
            return self._stream(case, dt)
        if case.family == K.ELEMENTWISE:
            return self._elementwise(case, dt)
        raise BackendUnavailable(f"numpy backend cannot run {case.family} kernels")

    def _attention(self, case: Case, dt: type) -> Callable[[], object]:
        """Reference (unfused) attention: scores = Q K^T, softmax in place, out = P V."""
        b, h, s, d = case.batch, case.heads, case.seq_len, case.head_dim
        q = self._arr(b, h, s, d, dtype=dt) * dt(1.0 / np.sqrt(d))
        kt = np.ascontiguousarray(self._arr(b, h, s, d, dtype=dt).swapaxes(-1, -2))
        v = self._arr(b, h, s, d, dtype=dt)
        scores: np.ndarray = np.empty((b, h, s, s), dtype=dt)
        out: np.ndarray = np.empty((b, h, s, d), dtype=dt)
        rowmax: np.ndarray = np.empty((b, h, s, 1), dtype=dt)
        mask: np.ndarray | None = np.triu(np.full((s, s), -np.inf, dtype=dt), 1) if case.causal else None

        def run() -> None:
            np.matmul(q, kt, out=scores)
            if mask is not None:
                np.add(scores, mask, out=scores)
            np.max(scores, axis=-1, keepdims=True, out=rowmax)
            np.subtract(scores, rowmax, out=scores)
            np.exp(scores, out=scores)
            np.sum(scores, axis=-1, keepdims=True, out=rowmax)
            np.divide(scores, rowmax, out=scores)
            np.matmul(scores, v, out=out)

        return run

    def _stream(self, case: Case, dt: type) -> Callable[[], object]:
        n = case.m
        a, b, c = self._arr(n, dtype=dt), self._arr(n, dtype=dt), self._arr(n, dtype=dt)
        s = dt(1.0001)
        if case.kernel == "copy":
            return lambda: np.copyto(b, a)
        if case.kernel == "scale":
            return lambda: np.multiply(a, s, out=b)
        if case.kernel == "add":
            return lambda: np.add(a, b, out=c)
        if case.kernel == "triad":
            def triad() -> None:  # two numpy passes: a = s*c, then a += b (n_kernels = 2)
                np.multiply(c, s, out=a)
                np.add(a, b, out=a)
            return triad
        if case.kernel == "sum":
            return lambda: a.sum()
        raise BackendUnavailable(f"unknown streaming kernel {case.kernel!r}")

    def _elementwise(self, case: Case, dt: type) -> Callable[[], object]:
        x, y = self._arr(case.m, case.n, dtype=dt), self._arr(case.m, case.n, dtype=dt)
        out = np.empty_like(x)
        if case.kernel == "residual_add":
            return lambda: np.add(x, y, out=out)
        if case.kernel == "rmsnorm":
            w = self._arr(case.n, dtype=dt)
            tmp: np.ndarray = np.empty((case.m, 1), dtype=dt)

            def rmsnorm() -> None:
                np.einsum("ij,ij->i", x, x, out=tmp[:, 0])
                np.sqrt(tmp / case.n + 1e-6, out=tmp)
                np.divide(x, tmp, out=out)
                np.multiply(out, w, out=out)
            return rmsnorm
        if case.kernel == "silu_mul":
            def silu_mul() -> None:
                np.negative(x, out=out)
                np.exp(out, out=out)
                np.add(out, 1.0, out=out)
                np.divide(x, out, out=out)
                np.multiply(out, y, out=out)
            return silu_mul
        raise BackendUnavailable(f"unknown elementwise kernel {case.kernel!r}")
