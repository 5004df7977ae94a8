#!/usr/bin/env bash
# The benchmark on a CUDA machine: our models in fp16 on the GPU; the recipe runs as the model
# card has it (sentence-transformers puts it on the GPU as well, in fp32). Results go to
# benchmarks/results/gpu/. Extra arguments are passed on, for example --quick or --skip sweeps.
# Run once on an H100 with --skip minilm sweeps --minilm DIR --e5-passages 13896 (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
exec python benchmarks/run.py --device cuda --precision fp16 --threads 0 \
    --out benchmarks/results/gpu "$@"
