"""Python reference for scripts/bench-encoder.sh: embeds the same questions with
sentence-transformers (PyTorch CPU) from the same local model folder.

usage: bench-encoder.py MODEL_DIR OUT_EMB_DIR QUESTIONS_FILE...
Prints one JSON line per file and mode, like the Rust example embed_bench; writes the
batched embeddings of each file to OUT_EMB_DIR/<set>.json for the agreement check.
"""
import json
import os
import sys
import time

import torch
from sentence_transformers import SentenceTransformer


def main() -> None:
    model_dir, out_dir, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    threads = int(os.environ.get("BENCH_THREADS", "2"))
    torch.set_num_threads(threads)
    model = SentenceTransformer(model_dir, device="cpu")
    model.max_seq_length = 128
    info = {"impl": "info", "torch": torch.__version__, "threads": torch.get_num_threads(),
            "mkldnn": torch.backends.mkldnn.is_available(), "mkl": torch.backends.mkl.is_available()}
    print(json.dumps(info), flush=True)
    with torch.inference_mode():
        for f in files:
            qs = [json.loads(line) for line in open(f, encoding="utf-8") if line.strip()]
            name = os.path.splitext(os.path.basename(f))[0]
            model.encode(qs[:8], batch_size=32)  # warm-up, not timed
            t = time.perf_counter()
            for q in qs:
                model.encode([q], batch_size=1)
            single = time.perf_counter() - t
            t = time.perf_counter()
            emb = model.encode(qs, batch_size=32)
            batched = time.perf_counter() - t
            for mode, s in (("single", single), ("batched", batched)):
                print(json.dumps({"impl": "python", "set": name, "mode": mode, "n": len(qs),
                                  "seconds": round(s, 4),
                                  "ms_per_question": round(1000 * s / len(qs), 3)}), flush=True)
            with open(os.path.join(out_dir, name + ".json"), "w", encoding="utf-8") as fh:
                json.dump(emb.tolist(), fh)


if __name__ == "__main__":
    main()
