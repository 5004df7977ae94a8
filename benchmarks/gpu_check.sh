#!/usr/bin/env bash
# The GPU checks of issue 24, where a CUDA GPU is lent: (1) fp16 and bf16 against fp32 on the
# GPU under the quality rule of precision_decision.py (real all-MiniLM-L6-v2, Decorte and ESCO
# query sets, paired bootstrap); (2) map throughput, one process vs Ray with 1 and 2 actors per
# GPU (gpu_map.py). Results go to benchmarks/results/gpu/. About 10 minutes on one H100;
# extra arguments go to gpu_map.py (e.g. --courses 500).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
python benchmarks/precision_decision.py --device cuda --variants "torch fp16" "torch bf16" \
    --out benchmarks/results/gpu
python benchmarks/gpu_map.py --device cuda --precision fp16 "$@"
