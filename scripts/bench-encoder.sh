#!/usr/bin/env bash
# Encoder benchmark: the candle encoder (selectllm-neural) against sentence-transformers on
# PyTorch CPU, loading the same local all-MiniLM-L6-v2 folder, on the same first 200 RouterDC
# GSM8K-test and 200 MMLU-test questions, in one run. Prints ms per question for single
# questions and batches of 32, the ratio candle/python, and the embedding agreement.
#
# usage: scripts/bench-encoder.sh            (env: SELECTLLM_DATA, SELECTLLM_ENCODER,
#                                              BENCH_VENV, BENCH_N, BENCH_THREADS, RUSTFLAGS)
# The Python side is installed from scripts/requirements-bench.txt into $BENCH_VENV
# (default ../venv-bench beside the repo, never inside it). For CPU-specific kernels build with
# RUSTFLAGS="-C target-cpu=native" (the figures say which flags were used).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${SELECTLLM_DATA:-$root/../shared/data}
model=${SELECTLLM_ENCODER:-$data/../models/all-MiniLM-L6-v2}
venv=${BENCH_VENV:-$root/../venv-bench}
n=${BENCH_N:-200}
threads=${BENCH_THREADS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/candle" "$work/python"

python3 - "$data" "$work" "$n" <<'PY'
import json, sys
data, work, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name, f in (("gsm8k", "gsm8k-test"), ("mmlu", "mmlu_test")):
    rows = json.load(open(f"{data}/routerdc/{f}.json", encoding="utf-8"))[:n]
    with open(f"{work}/{name}.jsonl", "w", encoding="utf-8") as out:
        for r in rows:
            out.write(json.dumps(r["question"]) + "\n")
PY

if ! "$venv/bin/python" -c "import sentence_transformers" 2>/dev/null; then
  echo "installing the Python reference into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$root/scripts/requirements-bench.txt"
fi

(cd "$root" && cargo build -q --release -p selectllm-neural ${BENCH_FEATURES:+--features "$BENCH_FEATURES"} --example embed_bench)
bin=${CARGO_TARGET_DIR:-$root/target}/release/examples/embed_bench

RAYON_NUM_THREADS=$threads EMBED_OUT="$work/candle" "$bin" "$model" "$work/gsm8k.jsonl" "$work/mmlu.jsonl" > "$work/candle.jsonl"
BENCH_THREADS=$threads "$venv/bin/python" "$root/scripts/bench-encoder.py" "$model" "$work/python" "$work/gsm8k.jsonl" "$work/mmlu.jsonl" > "$work/python.jsonl"

"$venv/bin/python" - "$work" "${RUSTFLAGS:-}" "$threads" <<'PY'
import json, sys
import numpy as np
work, flags, threads = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(l) for f in ("candle.jsonl", "python.jsonl") for l in open(f"{work}/{f}")]
info = [r for r in rows if r["impl"] == "info"][0]
t = {(r["impl"], r["set"], r["mode"]): r for r in rows if r["impl"] != "info"}
print(f"encoder benchmark (timed: the all-MiniLM-L6-v2 encoder alone, no classifier head): {threads} threads each; torch {info['torch']} (mkldnn {info['mkldnn']}, mkl {info['mkl']}); RUSTFLAGS='{flags}'")
print("| set | mode | n | candle ms/q | python ms/q | ratio candle/python |")
print("|---|---|---|---|---|---|")
for (impl, s, m), r in t.items():
    if impl != "candle":
        continue
    p = t[("python", s, m)]
    print(f"| {s} | {m} | {r['n']} | {r['ms_per_question']:.2f} | {p['ms_per_question']:.2f} | {r['seconds'] / p['seconds']:.2f}x |")
for s in ("gsm8k", "mmlu"):
    a = np.array(json.load(open(f"{work}/candle/{s}.json")))
    b = np.array(json.load(open(f"{work}/python/{s}.json")))
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    print(f"agreement {s}: min cosine(candle, python) = {cos.min():.6f}, max |diff| = {np.abs(a - b).max():.2e}")
PY
