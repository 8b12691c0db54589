"""Asks a running `selectllm serve` real GSM8K or MMLU questions through the official `openai`
client and prints each decision: plan, waves, cancelled calls, winner, answer vs gold, time.

usage: e2e_client.py GATEWAY_URL gsm8k|mmlu DATA_DIR N MODEL...
The prompts are the ones `selectllm collect` sends (chat-cot for GSM8K, chat-direct for MMLU),
so the members answer as they did when their data was collected. Exits non-zero when a
request fails or an answer carries no explanation.
"""
import csv
import json
import pathlib
import sys
import time

import openai

url, task, data, n, models = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]


def gsm8k(k):
    with open(data / "gsm8k" / "test.jsonl") as f:
        for _, line in zip(range(k), f):
            q = json.loads(line)
            yield (q["question"] + '\n\nLet\'s think step by step, then finish with "The answer is N" where N is the final number.',
                   q["answer"].split("####")[-1].strip().replace(",", ""), 320)


SUBJECTS = ["high_school_geography", "high_school_biology", "high_school_mathematics"]


def mmlu(k):
    """The first questions of a few subjects in turn (small models answer math with reasoning,
    not a letter, within the 8 tokens `selectllm collect` allows for MMLU)."""
    tables = []
    for subject in SUBJECTS:
        with open(data / "mmlu" / "test" / f"{subject}_test.csv") as f:
            tables.append(list(csv.reader(f))[1:])
    for i in range(k):
        r = tables[i % len(tables)][i // len(tables)]
        opts = "\n".join(f"{l}. {c}" for l, c in zip("ABCD", r[1:5]))
        yield (f"{r[0]}\n{opts}\n\nAnswer with the letter of the correct option (A, B, C or D) only.", "ABCD"[int(r[5])], 8)


client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=900)
right = {m: 0 for m in models}
total = {m: 0.0 for m in models}
questions = list((gsm8k if task == "gsm8k" else mmlu)(n))
for i, (prompt, gold, max_tokens) in enumerate(questions):
    for model in models:
        t0 = time.monotonic()
        r = client.chat.completions.create(model=model, temperature=0, max_tokens=max_tokens,
                                           messages=[{"role": "user", "content": prompt}])
        dt = time.monotonic() - t0
        x = r.model_extra.get("selectllm")
        if not x or not x.get("winner"):
            sys.exit(f"no explanation in the answer to {model}: {r}")
        ok = x.get("answer") == gold
        right[model] += ok
        total[model] += dt
        calls = sum(len(w) for w in x.get("waves", [])) or len(x["selected"])
        print(f"{task} q{i} {model:<36} {dt:6.1f} s  calls {calls}  waves {x.get('waves')}  "
              f"cancelled {x.get('cancelled', [])}  winner {x['winner']}  answer {x.get('answer')} "
              f"gold {gold} {'ok' if ok else 'wrong'}  stop: {x.get('stop_reason', x['reason'])}")
        said = ", ".join(f"{m['name']}={m.get('answer', m.get('error', '-'))}" for m in x.get("members", [])
                         if "answer" in m or "error" in m)
        print(f"{'':<8} members' answers: {said}")
        if x.get("tie_break"):
            print(f"{'':<8} tie: {x['tie_break']}")
for model in models:
    print(f"{task}: {model:<36} {right[model]}/{len(questions)} right, {total[model]:.1f} s in all")
