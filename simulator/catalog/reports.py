"""Tables and curves about the catalog itself (hardware specs, rooflines, cost per PFLOP-hour)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.catalog.hardware import hardware_ids, load_hardware
from simulator.catalog.prices import load_price_book
from simulator.core import cost as cost_mod
from simulator.core.hardware import GemmCurve
from simulator.core.roofline import gemm_time_s
from simulator.units import GB, GIB, PFLOP, TFLOP
from simulator.vocab import COST_OPTIONS


def hardware_table() -> pd.DataFrame:
    """One row per shipped accelerator: human units (GiB of memory, TB/s, GB/s links, TFLOP/s, W), links and sources."""
    rows = []
    for hw_id in hardware_ids():
        hw = load_hardware(hw_id)
        p = hw.peak_flop_per_s
        rows.append({
            "id": hw.id, "name": hw.name, "vendor": hw.vendor,
            "memory_GiB": hw.hbm_bytes / GIB, "HBM_TB_per_s": hw.hbm_bandwidth_bytes_per_s / TFLOP,
            "bf16_TFLOPs": p.get("bf16", np.nan) / TFLOP, "fp8_TFLOPs": p.get("fp8", np.nan) / TFLOP,
            "fp4_TFLOPs": p.get("fp4", np.nan) / TFLOP, "fp32_TFLOPs": p.get("fp32", np.nan) / TFLOP,
            "TDP_W": hw.tdp_w, "GPUs_per_node": hw.gpus_per_node, "scale_up_domain": hw.scale_up_domain_gpus,
            "scale_up_GB_per_s": hw.intra.bandwidth_bytes_per_s / GB,
            "scale_out_GB_per_s": hw.inter.bandwidth_bytes_per_s / GB,
            "GEMM_efficiency": hw.gemm.compute_efficiency, "attention_efficiency": hw.flash_attention_efficiency,
            "HBM_efficiency": hw.memory_bandwidth_efficiency, "host_speed": hw.host_speed, "host_cpu": hw.host_cpu,
            "sources": " | ".join(hw.sources),
        })
    return pd.DataFrame(rows)


def roofline_curves(hw_ids, dtype: str = "bf16", points: int = 60) -> pd.DataFrame:
    """Attainable TFLOP/s vs arithmetic intensity: the datasheet roofline (min of peak and
    bandwidth x intensity; Williams et al. 2009) and the calibrated soft roofline of square GEMMs."""
    rows = []
    for hw_id in hw_ids:
        hw = load_hardware(hw_id)
        peak = hw.peak_flop_per_s.get(dtype)
        if peak is None:
            continue
        in_b = 1.0 if dtype == "fp8" else (4.0 if dtype == "fp32" else 2.0)
        intensity = np.logspace(0, 4, points)
        for x, y in zip(intensity, np.minimum(peak, intensity * hw.hbm_bandwidth_bytes_per_s), strict=True):
            rows.append({"hardware": hw_id, "curve": "datasheet", "intensity_flop_per_byte": x, "tflops": y / TFLOP})
        # square GEMMs n x n x n: intensity 2n^3 / (3 n^2 b) = 2n / (3 b)
        n = np.logspace(np.log10(64), 4.5, points)  # from the smallest GEMM a layer produces in practice
        eff = hw.gemm.compute_efficiency_for(np.full(n.shape, dtype == "fp8"))
        curve = GemmCurve(hw.gemm.compute_efficiency, hw.gemm.memory_efficiency, hw.gemm.p, hw.gemm.launch_s)
        t = gemm_time_s(n, n, n, peak, hw.hbm_bandwidth_bytes_per_s, curve, in_b, in_b, 1.0, eff)
        for ni, ti in zip(n, t, strict=True):
            x = 2 * ni / (3 * in_b)
            if x >= 1.0:  # below ~1 FLOP/byte no real GEMM lives; keep the chart's useful range
                rows.append({"hardware": hw_id, "curve": "calibrated GEMM", "intensity_flop_per_byte": x,
                             "tflops": 2 * ni**3 / ti / TFLOP})
    return pd.DataFrame(rows)


def effective_cost_table(price_book: str | cost_mod.PriceBook | None = None) -> pd.DataFrame:
    """USD per effective bf16 PFLOP-hour: price / (peak x calibrated GEMM efficiency)."""
    book = load_price_book(price_book)
    rows = []
    for hw_id in hardware_ids():
        hw = load_hardware(hw_id)
        eff_pflops = hw.peak("bf16") * hw.gemm.compute_efficiency / PFLOP
        for option in COST_OPTIONS:  # owned: amortised purchase + facility + electricity per busy hour
            price = cost_mod.busy_gpu_hour_usd(book, hw, option)
            if np.isfinite(price):
                rows.append({"hardware": hw_id, "purchase": option, "usd_per_gpu_hour": price,
                             "usd_per_effective_pflop_hour": price / eff_pflops})
    return pd.DataFrame(rows)
