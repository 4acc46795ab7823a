#!/usr/bin/env bash
# One call on a lent GPU (no internet, nothing installed): the project's quick kernel calibration
# (`simulator calibrate run --backend torch --suite quick`, the CSV format `calibrate fit` reads), then the
# training-step and kernel-sweep measurements of benchmarks/gpu/train_step.py, all inside BUDGET_S seconds.
#
#   bash benchmarks/gpu/run.sh OUT_DIR [BUDGET_S [train_step.py options...]]   # BUDGET_S default 360
#   SKIP_CALIBRATE=1 bash benchmarks/gpu/run.sh "$OUT" 200 --parts train --configs compile-flash-fp8_rowwise
#
# Always exits 0: what could not run (no torch, no GPU, no numpy, time) is said in OUT_DIR/note.json,
# OUT_DIR/run.log and the result rows. See benchmarks/gpu/README.md.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-${OUT:-}}"
BUDGET="${2:-360}"
EXTRA=("${@:3}")                      # passed on to train_step.py
CAL_TIMEOUT="${CAL_TIMEOUT:-100}"     # the quick calibration takes ~30-60 s on an H100; this bounds it
TRAIN_RESERVE=150                     # seconds kept for train_step.py whatever calibration does
if [ -z "$OUT" ]; then echo "usage: bash benchmarks/gpu/run.sh OUT_DIR [BUDGET_S]" >&2; exit 2; fi
mkdir -p "$OUT" && OUT="$(cd "$OUT" && pwd)"
START=$(date +%s)
cd "$ROOT" || exit 0
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
note() {  # status reason
  printf '{"status": "%s", "reason": "%s", "date": "%s"}\n' "$1" "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    | tee "$OUT/note.json"
}

main() {
echo "== run.sh: budget ${BUDGET}s, out $OUT, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
PY=""
for cand in "${PYTHON:-}" python3 python /opt/conda/bin/python /usr/bin/python3 "$ROOT/.venv/bin/python"; do
  [ -n "$cand" ] && command -v "$cand" >/dev/null 2>&1 || continue
  if timeout 120 "$cand" -c "import torch" >/dev/null 2>&1; then PY="$cand"; break; fi
done
if [ -z "$PY" ]; then
  echo "run.sh: no python here imports torch (tried \$PYTHON, python3, python, conda, .venv); nothing measured"
  note skipped "torch is not importable by any python on this machine; nothing measured"
  return 0
fi
echo "== python: $(command -v "$PY")"
timeout 60 "$PY" -c "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', \
torch.version.cuda, 'gpu', torch.cuda.is_available())" || true
{ nvidia-smi; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv; } \
  > "$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi: not available" | tee -a "$OUT/nvidia-smi.txt"
timeout 60 "$PY" -m pip list --format=freeze > "$OUT/pip-freeze.txt" 2>/dev/null || true
grep -i -E "^(torch|torchao|triton|numpy|nvidia-cudnn|nvidia-cublas)" "$OUT/pip-freeze.txt" 2>/dev/null || true

GPU_NAME="$(nvidia-smi --query-gpu=name --format=csv,noheader -i 0 2>/dev/null | head -1)"
case "$GPU_NAME" in  # the hardware profile the calibration file is for (names it; `calibrate fit` checks it)
  *H200*) PROFILE=h200-sxm-141gb ;;
  *H100*PCIe*) PROFILE=h100-pcie-80gb ;;
  *H100*NVL*) PROFILE="" ;;
  *H100*) PROFILE=h100-sxm-80gb ;;
  *H800*) PROFILE=h800-sxm-80gb ;;
  *A100*80GB*) PROFILE=a100-sxm-80gb ;;
  *A100*) PROFILE=a100-sxm-40gb ;;
  *L40S*) PROFILE=l40s-48gb ;;
  *) PROFILE="" ;;
esac
DATE="$(date -u +%Y-%m-%d)"
echo "== gpu: ${GPU_NAME:-none} -> profile ${PROFILE:-(none)}"

# 1. the existing harness, quick suite: its CSV is what `simulator calibrate fit/validate` read
if [ -n "${SKIP_CALIBRATE:-}" ]; then
  echo "== calibrate: skipped (SKIP_CALIBRATE is set)"
elif [ -z "$GPU_NAME" ]; then
  echo "== calibrate: skipped (no GPU seen by nvidia-smi)"
elif ! "$PY" -c "import numpy" >/dev/null 2>&1; then
  echo "== calibrate: skipped (numpy is not importable; the harness needs it)"
else
  t=$(( $(left) - TRAIN_RESERVE )); [ "$t" -gt "$CAL_TIMEOUT" ] && t=$CAL_TIMEOUT
  if [ "$t" -lt 20 ]; then
    echo "== calibrate: skipped (only ${t}s would be left for it)"
  else
    echo "== calibrate run --backend torch --suite quick (timeout ${t}s)"
    PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" timeout -k 10 "$t" "$PY" -m simulator calibrate run \
      --backend torch --suite quick ${PROFILE:+--profile "$PROFILE"} \
      --out "$OUT/calibrate-${PROFILE:-torch}-quick-$DATE.csv" --json
    echo "== calibrate: exit $? after $(( $(date +%s) - START ))s"
  fi
fi

# 2. training steps and kernel sweeps, with a global deadline; rows are written as they are measured
d=$(( $(left) - 15 ))
if [ "$d" -lt 30 ]; then
  echo "== train_step: skipped (only ${d}s left)"
else
  echo "== train_step.py --deadline-s $d"
  timeout -k 10 $(( d + 30 )) "$PY" benchmarks/gpu/train_step.py --out "$OUT/train_step" --deadline-s "$d" \
    ${EXTRA[@]+"${EXTRA[@]}"}
  echo "== train_step: exit $? after $(( $(date +%s) - START ))s"
fi
ls -la "$OUT" "$OUT/train_step" 2>/dev/null
echo "== done in $(( $(date +%s) - START ))s"
}

main 2>&1 | tee -a "$OUT/run.log"
exit 0
