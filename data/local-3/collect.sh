#!/usr/bin/env bash
# Makes (or resumes) the local-3 dataset: three local models, temperature 0, one sample each,
# 500 MMLU test questions (shuffled with seed 42, letter answer, max 16 new tokens), then the
# first 300 GSM8K test questions (chain of thought, max 320 new tokens). Resumable: rerun it.
# usage: data/local-3/collect.sh          start servers, collect, export, stop the servers
# env:   DB (default ../llm-run/local-3.sqlite), LLM_VENV, LLM_MODELS, SELECTLLM_TOOLS, SELECTLLM_BIN
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/data/local-3
TOOLS=${SELECTLLM_TOOLS:-$ROOT/../shared/tools}
VENV=${LLM_VENV:-$ROOT/../llm-venv}
MODELS=${LLM_MODELS:-$ROOT/../llm-models}
DB=${DB:-$ROOT/../llm-run/local-3.sqlite}
RUN=$(dirname "$DB")/servers
BIN=${SELECTLLM_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/selectllm}
cd "$ROOT"
[ -x "$BIN" ] || cargo build --release -p selectllm
[ -x "$VENV/bin/python" ] || bash "$TOOLS/llm-servers.sh" install "$VENV"
bash "$TOOLS/fetch-local-models.sh" "$MODELS"
mkdir -p "$RUN"
trap 'bash "$TOOLS/llm-servers.sh" stop "$RUN"' EXIT
bash "$TOOLS/llm-servers.sh" start "$VENV" "$MODELS" "$RUN"
"$BIN" collect --pool "$HERE/pool.toml" --dataset mmlu --shuffle 42 --limit 500 --db "$DB" \
  --samples 1 --temperature 0 --max-tokens 16 --prompt chat-direct
"$BIN" collect --pool "$HERE/pool.toml" --dataset gsm8k --limit 300 --db "$DB" \
  --samples 1 --temperature 0 --max-tokens 320 --prompt chat-cot
for task in mmlu gsm8k; do
  "$BIN" export --db "$DB" --task "$task" --name "local-3-$task" --out "$HERE/local-3-$task.jsonl" || true
done
