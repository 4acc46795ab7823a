"""torch backend: cuBLAS GEMMs, scaled_dot_product_attention, streaming, host copies and NCCL collectives.

Imports torch only when constructed. On a GPU it times with CUDA events and flushes L2 by zeroing a
256 MiB buffer before each timed call (Bekman's mamf-finder method). `--device cpu` runs the same
kernels on the CPU (and collectives over gloo) so the harness can be tested without a GPU.
Collectives run in one process per device (torch.multiprocessing.spawn on 127.0.0.1), each
repetition's time being the slowest rank's.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from simulator.calibrate import kernels as K
from simulator.calibrate.harness import BackendUnavailable, Timing, base_environment, cpu_model, summarize
from simulator.calibrate.kernels import Case

FLUSH_BYTES_GPU = 256 * 2**20


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise BackendUnavailable("the torch backend needs PyTorch (`pip install torch`); it is not installed "
                                 "here. Use --backend numpy on a machine without it") from None
    return torch


def _dtype(torch: Any, name: str) -> Any:
    table = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
             "fp64": torch.float64}
    if name == "fp8":
        if not hasattr(torch, "float8_e4m3fn"):
            raise BackendUnavailable("this torch has no float8_e4m3fn")
        return torch.float8_e4m3fn
    return table[name]


class TorchBackend:
    """Kernels through PyTorch on one device (cuda:0 or the CPU)."""

    name = "torch"

    def __init__(self, device: str = "cuda", world_size: int | None = None) -> None:
        torch = self.torch = _import_torch()
        if device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable("torch is installed but sees no CUDA GPU; the torch suite needs one "
                                     "(pass --device cpu only to test the harness on the CPU)")
        self.device = device
        self.is_cuda = device == "cuda"
        self.world_size = world_size
        self._keep: list[Any] = []
        if self.is_cuda:
            torch.cuda.set_device(0)
            self._flush = torch.empty(FLUSH_BYTES_GPU // 4, dtype=torch.float32, device="cuda")
            self._events = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
        else:
            from simulator.calibrate.numpy_backend import last_level_cache_bytes

            self._flush = torch.empty(2 * last_level_cache_bytes() // 4, dtype=torch.float32)

    # ------------------------------------------------------------ metadata and suite
    def default_world_size(self) -> int:
        if self.world_size is not None:
            return self.world_size
        return self.torch.cuda.device_count() if self.is_cuda else 1

    def environment(self) -> dict[str, str]:
        torch = self.torch
        env = base_environment(self.name, "")
        env.update({"torch": torch.__version__, "torch_threads": str(torch.get_num_threads()),
                    "world_size": str(self.default_world_size())})
        if self.is_cuda:
            props = torch.cuda.get_device_properties(0)
            env.update({"device": torch.cuda.get_device_name(0), "device_kind": "gpu",
                        "device_count": str(torch.cuda.device_count()), "cuda": str(torch.version.cuda),
                        "cudnn": str(torch.backends.cudnn.version()),
                        "sm_count": str(getattr(props, "multi_processor_count", "")),
                        "gpu_memory_bytes": str(getattr(props, "total_memory", "")),
                        "timer": "torch.cuda.Event per call", "flush_bytes": str(FLUSH_BYTES_GPU)})
            try:
                env["nccl"] = ".".join(str(x) for x in torch.cuda.nccl.version())
            except Exception:  # noqa: BLE001 - metadata only
                pass
            env.update(_nvidia_smi())
        else:
            env.update({"device": cpu_model(), "device_kind": "cpu", "timer": "time.perf_counter"})
        return env

    def suite(self, name: str) -> list[Case]:
        if self.is_cuda:
            fp8 = hasattr(self.torch, "_scaled_mm") and self.torch.cuda.get_device_capability(0) >= (8, 9)
            return K.gpu_suite(name, self.default_world_size(), fp8=fp8)
        cases = [replace(c, kernel="sdpa") if c.family == K.ATTENTION else c for c in K.cpu_suite(name)]
        if self.default_world_size() > 1:
            cases += K.collective_cases(name, self.default_world_size(), hi_bytes=2**22)
        return cases

    # ------------------------------------------------------------ timing
    def flush(self) -> None:
        self._flush.zero_()

    def time_call(self, fn: Callable[[], object]) -> float:
        if self.is_cuda:
            start, end = self._events
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) * 1e-3
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    def release(self) -> None:
        self._keep.clear()

    def _t(self, *shape: int, dtype: Any = None) -> Any:
        torch = self.torch
        t = torch.randn(*shape, device=self.device, dtype=torch.float32)
        t = t.to(dtype) if dtype is not None else t
        self._keep.append(t)
        return t

    # ------------------------------------------------------------ kernels
    def prepare(self, case: Case) -> Callable[[], object]:
        torch = self.torch
        if case.family == K.GEMM:
            return self._gemm(case)
        dt = _dtype(torch, case.dtype)
        if case.family == K.ATTENTION:
            import torch.nn.functional as F

            q, k, v = (self._t(case.batch, case.heads, case.seq_len, case.head_dim, dtype=dt) for _ in range(3))
            return lambda: F.scaled_dot_product_attention(q, k, v, is_causal=case.causal)
        if case.family == K.MEMORY:
            a, b, c = (self._t(case.m, dtype=dt) for _ in range(3))
            fns = {"copy": lambda: b.copy_(a), "scale": lambda: torch.mul(a, 1.0001, out=b),
                   "add": lambda: torch.add(a, b, out=c), "triad": lambda: torch.add(b, c, alpha=1.0001, out=a),
                   "sum": lambda: a.sum()}
            return fns[case.kernel]
        if case.family == K.ELEMENTWISE:
            import torch.nn.functional as F

            x, y = self._t(case.m, case.n, dtype=dt), self._t(case.m, case.n, dtype=dt)
            out = torch.empty_like(x)
            w = self._t(case.n, dtype=dt)
            if case.kernel == "rmsnorm":
                if hasattr(F, "rms_norm"):
                    return lambda: F.rms_norm(x, (case.n,), w)
                return lambda: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w
            if case.kernel == "silu_mul":
                return lambda: torch.mul(F.silu(x), y, out=out)
            return lambda: torch.add(x, y, out=out)
        if case.family == K.HOST_COPY:
            host = torch.empty(case.m, dtype=dt, pin_memory=self.is_cuda)
            dev = torch.empty(case.m, dtype=dt, device=self.device)
            self._keep += [host, dev]
            return (lambda: dev.copy_(host)) if case.kernel == "h2d" else (lambda: host.copy_(dev))
        raise BackendUnavailable(f"torch backend cannot run {case.family} kernels alone")

    def _gemm(self, case: Case) -> Callable[[], object]:
        torch = self.torch
        if case.dtype == "fp8":
            if not hasattr(torch, "_scaled_mm"):
                raise BackendUnavailable("this torch has no _scaled_mm for fp8 GEMMs")
            a = self._t(case.m, case.k, dtype=torch.float8_e4m3fn)
            b = self._t(case.n, case.k, dtype=torch.float8_e4m3fn).t()
            one = torch.ones((), device=self.device)
            return lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
        dt = _dtype(torch, case.dtype)
        a, b = self._t(case.m, case.k, dtype=dt), self._t(case.k, case.n, dtype=dt)
        c = torch.empty(case.m, case.n, dtype=dt, device=self.device)
        self._keep.append(c)
        allow = case.dtype == "tf32"

        def mm() -> None:
            torch.backends.cuda.matmul.allow_tf32 = allow
            torch.matmul(a, b, out=c)
        return mm

    # ------------------------------------------------------------ collectives
    def run_collectives(self, cases: list[Case], timing: Timing) -> list[dict[str, object]]:
        """Spawn one process per rank, time every collective case, return rank 0's rows."""
        import torch.multiprocessing as mp

        world = max(c.world_size for c in cases)
        if world < 2:
            return []
        avail = self.torch.cuda.device_count() if self.is_cuda else world
        if world > avail:
            raise BackendUnavailable(f"collectives need {world} devices, {avail} visible")
        tmp = tempfile.mkdtemp(prefix="calibrate-")
        try:
            out = os.path.join(tmp, "rows.json")
            mp.spawn(_collective_worker, args=(world, self.device, [asdict(c) for c in cases], asdict(timing),
                                               _free_port(), out), nprocs=world, join=True)
            with open(out, encoding="utf-8") as f:
                return json.load(f)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nvidia_smi() -> dict[str, str]:
    """Driver version and clocks from nvidia-smi when it is on PATH (metadata only)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return {}
    query = "driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.limit"
    try:
        text = subprocess.run([exe, f"--query-gpu={query}", "--format=csv,noheader", "-i", "0"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    parts = [p.strip() for p in text.split(",")]
    keys = ["driver", "clock_sm", "clock_sm_max", "clock_mem", "power_limit"]
    return dict(zip(keys, parts, strict=True)) if len(parts) == len(keys) else {}


def _collective_worker(rank: int, world: int, device: str, cases: list[dict[str, Any]], timing: dict[str, Any],
                       port: int, out: str) -> None:
    import torch
    import torch.distributed as dist

    cuda = device == "cuda"
    if cuda:
        torch.cuda.set_device(rank)
    dist.init_process_group("nccl" if cuda else "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    dev = torch.device("cuda", rank) if cuda else torch.device("cpu")
    t = Timing(**timing)
    rows = []
    try:
        for d in cases:
            case = Case(**d)
            fn = _collective_fn(torch, dist, case, dev, rank, world)
            if fn is None:
                continue
            rounds: list[list[float]] = []
            for r in range(max(1, t.rounds)):
                for _ in range(t.warmup if r == 0 else 1):
                    fn()
                times = []
                n_reps = max(2, t.min_reps // max(1, t.rounds))
                for _ in range(n_reps):
                    dist.barrier()
                    if cuda:
                        torch.cuda.synchronize(dev)
                    t0 = time.perf_counter()
                    fn()
                    if cuda:
                        torch.cuda.synchronize(dev)
                    times.append(time.perf_counter() - t0)
                slowest = torch.tensor(times, dtype=torch.float64, device=dev)
                dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
                rounds.append(slowest.cpu().tolist())
            row = {k: v for k, v in d.items() if k != "flush"}
            row["causal"] = 0
            row.update(summarize(rounds))
            rows.append(row)
    finally:
        if rank == 0:
            with open(out, "w", encoding="utf-8") as f:
                json.dump(rows, f)
        dist.destroy_process_group()


def _collective_fn(torch: Any, dist: Any, case: Case, dev: Any, rank: int, world: int) -> Callable[[], object] | None:
    """The collective call for one case (None when this process group cannot run it, e.g. gloo)."""
    dt = _dtype(torch, case.dtype)
    elem = torch.empty((), dtype=dt).element_size()
    n = max(world, int(case.bytes) // elem // world * world)
    if case.family == "allreduce":
        buf = torch.ones(n, dtype=dt, device=dev)
        return lambda: dist.all_reduce(buf)
    if case.family == "allgather":
        out = torch.empty(n, dtype=dt, device=dev)
        inp = torch.ones(n // world, dtype=dt, device=dev)
        if hasattr(dist, "all_gather_into_tensor") and dev.type == "cuda":
            return lambda: dist.all_gather_into_tensor(out, inp)
        parts = list(out.chunk(world))
        return lambda: dist.all_gather(parts, inp)
    if case.family == "reducescatter":
        inp = torch.ones(n, dtype=dt, device=dev)
        out = torch.empty(n // world, dtype=dt, device=dev)
        if dev.type != "cuda":
            return None  # gloo has no reduce_scatter
        return lambda: dist.reduce_scatter_tensor(out, inp)
    if case.family == "alltoall":
        inp = torch.ones(n, dtype=dt, device=dev)
        out = torch.empty(n, dtype=dt, device=dev)
        return lambda: dist.all_to_all_single(out, inp)
    if case.family == "sendrecv":
        buf = torch.ones(n, dtype=dt, device=dev)
        if rank == 0:
            return lambda: dist.send(buf, 1)
        if rank == 1:
            return lambda: dist.recv(buf, 0)
        return lambda: None
    return None
