#!/usr/bin/env bash
# Routing time per question, selectllm's lexical classifier vs a scikit-learn reference
# (TF-IDF + one-vs-rest logistic regression), on the same RouterDC questions, in one run.
# usage: scripts/bench-lexical.sh [DATA_DIR]     (installs scikit-learn into target/bench-venv)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-${SELECTLLM_DATA:-../shared/data}}
VENV=${BENCH_VENV:-target/bench-venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r scripts/requirements-lexical.txt
fi
cargo build --release -q
BIN=target/release/selectllm
CK=$(mktemp -d); trap 'rm -rf "$CK"' EXIT
echo "machine: $(nproc) cores; $(date -u +%FT%TZ)"
for task in gsm8k mmlu; do
  # The classifier is pinned: the default (`auto`) is MiniLM whenever the encoder folder exists.
  "$BIN" --data "$DATA" train --classifier lexical --dataset "routerdc-$task" --out "$CK/$task" >/dev/null
  ours=$("$BIN" --data "$DATA" bench route --checkpoint "$CK/$task" --dataset "routerdc-$task" --n 200)
  ref=$("$VENV/bin/python" scripts/lexical_reference.py "$DATA" "$task" 200)
  python3 - "$ours" "$ref" <<'PY'
import json, sys
o, r = json.loads(sys.argv[1]), json.loads(sys.argv[2])
if not o["classifier"].startswith("lexical"):
    sys.exit(f"timed classifier is {o['classifier']!r}, not the lexical one")
print(f"{o['dataset']}: selectllm {o['classifier']} {o['route_us_per_question']:.1f} us/question, mean ROC-AUC {o['mean_auc']:.3f} | "
      f"scikit-learn {r['route_us_per_question']:.1f} us/question, mean ROC-AUC {r['mean_auc']:.3f} | "
      f"time ratio ours/sklearn = {o['route_us_per_question'] / r['route_us_per_question']:.4f}")
PY
done
