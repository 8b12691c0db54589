#!/usr/bin/env bash
# RouterDC's mixed protocol, selectllm's classifier beside a scikit-learn reference on the same
# questions, labels and split, in one run: mean ROC-AUC and the s=1 (maxconf:1) macro accuracy.
# usage: scripts/bench-mixed.sh [DATA_DIR] [--classifier lexical|minilm]
#        (installs scikit-learn into target/bench-venv, as scripts/bench-lexical.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-${SELECTLLM_DATA:-../shared/data}}
CLF=${2:-lexical}
VENV=${BENCH_VENV:-target/bench-venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r scripts/requirements-lexical.txt
fi
BIN=${SELECTLLM_BIN:-target/release/selectllm}
[ -x "$BIN" ] || cargo build --release -q
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
echo "machine: $(nproc) cores; $(date -u +%FT%TZ)"
"$BIN" --data "$DATA" eval --dataset routerdc-mixed --classifier "$CLF" --out "$OUT" >/dev/null
ref=$("$VENV/bin/python" scripts/mixed_reference.py "$DATA")
python3 - "$OUT/routerdc-mixed/report.json" "$ref" <<'PY'
import json, sys
rep, ref = json.load(open(sys.argv[1])), json.loads(sys.argv[2])
row = next(r for r in rep["rows"] if r["name"] == "maxconf:1")
def fig(t):
    return t["sample_accuracy"] if t.get("sample_accuracy") is not None else t["accuracy"]
tasks = list(ref["tasks"])
print("| | mean ROC-AUC | " + " | ".join(tasks) + " | macro |")
print("|---|---|" + "---|" * len(tasks) + "---|")
print(f"| selectllm {rep['classifier']['name']} maxconf:1 | {rep['classifier']['mean_auc']:.3f} | "
      + " | ".join(f"{100 * fig(row['tasks'][t]):.2f}" for t in tasks) + f" | {100 * row['macro_accuracy']:.2f} |")
print(f"| scikit-learn TF-IDF + LR argmax | {ref['mean_auc']:.3f} | "
      + " | ".join(f"{100 * fig(ref['tasks'][t]):.2f}" for t in tasks) + f" | {100 * ref['macro_accuracy']:.2f} |")
PY
