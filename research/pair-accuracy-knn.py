#!/usr/bin/env python3
"""Is relative competence learnable on RouterDC? (pair-accuracy target)

Compares the constant prior (each member's training label rate) with nearest-neighbour local
rates over all-MiniLM-L6-v2 embeddings: P_j(q) = (sum over the k nearest training questions of
y_j + m * prior_j) / (k + m), with (k, m) chosen by leave-one-out pair accuracy on the training
questions. For six seeded 90% subsets of the training file it prints the leave-one-out gain,
then the test pair accuracy of both and their paired-bootstrap difference (95% interval).

Reads the embeddings from selectllm's embedding cache (fill it first, e.g. with
`selectllm eval --dataset routerdc-gsm8k --classifier minilm`), so both sides use the same
vectors. Needs numpy.
usage: research/pair-accuracy-knn.py [CACHE_FILE ...]   (default: ~/.cache/selectllm/embeddings/emb-*.bin)
env:   SELECTLLM_DATA (default ../shared/data)
"""
import glob, hashlib, json, os, struct, sys
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("SELECTLLM_DATA", os.path.join(ROOT, "..", "shared", "data"))
GRID = [(k, m) for k in (5, 10, 20, 50, 100) for m in (3, 10, 30, 100, 300)]


def load_cache(paths):
    cache = {}
    for path in paths:
        b = open(path, "rb").read()
        if b[:8] != b"SLEMB1\n\0":
            sys.exit(f"{path}: not a selectllm embedding cache")
        dim = struct.unpack("<I", b[8:12])[0]
        rec = 32 + 4 * dim
        for i in range(12, len(b), rec):
            cache[b[i:i + 32]] = np.frombuffer(b[i + 32:i + rec], dtype="<f4")
    return cache


def load(cache, name):
    rows = json.load(open(os.path.join(DATA, "routerdc", name)))
    members = list(rows[0]["scores"])
    x, s = [], []
    for r in rows:
        key = hashlib.sha256(r["question"].encode()).digest()
        if key not in cache:
            sys.exit(f"{name}: a question is not in the embedding cache; run selectllm eval with --classifier minilm first")
        x.append(cache[key])
        s.append([float(r["scores"][m]) for m in members])
    x = np.array(x)
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.array(s) >= 0.5


def pair_hits(p, y):
    """Per question: split pairs ranked right (ties 0.5) and split pairs."""
    hits, n = np.zeros(len(p)), np.zeros(len(p))
    rows = np.arange(len(p))
    for a in range(p.shape[1]):
        for b in range(a + 1, p.shape[1]):
            split = y[:, a] != y[:, b]
            right, wrong = np.where(y[:, a], a, b), np.where(y[:, a], b, a)
            pr, pw = p[rows, right], p[rows, wrong]
            hits += split * ((pr > pw) + 0.5 * (pr == pw))
            n += split
    return hits, n


def pair_acc(p, y):
    h, n = pair_hits(p, y)
    return h.sum() / n.sum()


def boot_diff(p1, p0, y, resamples=1000, seed=0):
    h1, n = pair_hits(p1, y)
    h0, _ = pair_hits(p0, y)
    rng = np.random.default_rng(seed)
    d = []
    for _ in range(resamples):
        i = rng.integers(0, len(y), len(y))
        d.append((h1[i].sum() - h0[i].sum()) / n[i].sum())
    d = np.sort(d)
    return (h1.sum() - h0.sum()) / n.sum(), d[int(0.025 * resamples)], d[int(0.975 * resamples)]


def knn_rates(xtr, ytr, xq, k, m, prior, leave_one_out=False):
    sim = xq @ xtr.T
    if leave_one_out:
        np.fill_diagonal(sim, -9.0)
    idx = np.argpartition(-sim, k, axis=1)[:, :k]
    return (ytr[idx].sum(1) + m * prior) / (k + m)


def main():
    paths = sys.argv[1:] or glob.glob(os.path.expanduser("~/.cache/selectllm/embeddings/emb-*.bin"))
    cache = load_cache(paths)
    print("| task | subset seed | LOO gain on train | k | m | test prior | test kNN | difference [95% CI] |")
    print("|---|---|---|---|---|---|---|---|")
    for task, (ftr, fte) in {"gsm8k": ("gsm8k-train.json", "gsm8k-test.json"),
                             "mmlu": ("mmlu_train.json", "mmlu_test.json")}.items():
        xtr0, ytr0 = load(cache, ftr)
        xte, yte = load(cache, fte)
        for seed in range(6):
            keep = np.random.default_rng(seed).permutation(len(xtr0))[: int(0.9 * len(xtr0))]
            xtr, ytr = xtr0[keep], ytr0[keep].astype(float)
            prior = ytr.mean(0)
            base = pair_acc(np.tile(prior, (len(xtr), 1)), ytr > 0)
            gain, k, m = max((pair_acc(knn_rates(xtr, ytr, xtr, k, m, prior, True), ytr > 0) - base, k, m)
                             for k, m in GRID)
            p0 = np.tile(prior, (len(xte), 1))
            p1 = knn_rates(xtr, ytr, xte, k, m, prior)
            d, lo, hi = boot_diff(p1, p0, yte)
            print(f"| {task} | {seed} | {gain:+.4f} | {k} | {m} | {pair_acc(p0, yte):.4f} | {pair_acc(p1, yte):.4f} | {d:+.4f} [{lo:+.4f}, {hi:+.4f}] |", flush=True)


if __name__ == "__main__":
    main()
