#!/usr/bin/env python3
"""Does the members' order depend on question difficulty on RouterDC? (pair accuracy)

A study of the difficulty-conditional prior that `selectllm-neural` uses (`relative.rs`,
`Conditional`), written independently of the Rust code, on the same embeddings:
1. Oracle: difficulty = the question's true mean correctness over members; per member, a
   logistic curve of correctness in it, fitted on train. An upper bound on what ordering by
   difficulty can give.
2. Estimated: difficulty = mean correctness of the question's 30 nearest training questions
   (leave-one-out on train); curves mixed with the constant prior by a weight chosen by 5-fold
   cross-validation of pair accuracy on train (as in the Rust code, without its 2-standard-error
   gate). Six seeded 90% subsets of the training file; test pair accuracy against the constant
   prior with a paired bootstrap (1,000 resamples) of the difference.

Reads the embeddings from selectllm's embedding cache (see research/pair-accuracy-knn.py).
usage: research/pair-accuracy-difficulty.py [CACHE_FILE ...]   Needs numpy.
"""
import importlib.util, os, sys
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("pak", os.path.join(HERE, "pair-accuracy-knn.py"))
pak = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pak)

K, FOLDS, GAMMAS = 30, 5, (0.0, 0.25, 0.5, 0.75, 1.0)


def logistic_line(x, y):
    X = np.stack([np.ones_like(x), x], 1)
    w = np.zeros(2)
    for _ in range(100):
        p = 1 / (1 + np.exp(-X @ w))
        step = np.linalg.solve((X * (p * (1 - p))[:, None]).T @ X + 1e-3 * np.eye(2), X.T @ (y - p) - 1e-3 * w)
        w += step
        if np.abs(step).max() < 1e-9:
            break
    return w


def curves(d, y):
    return np.array([logistic_line(d, y[:, m].astype(float)) for m in range(y.shape[1])])


def centred(z):
    return z - z.mean(-1, keepdims=True)


def knn_difficulty(xq, xr, ease, loo=False):
    s = xq @ xr.T
    if loo:
        np.fill_diagonal(s, -9)
    return ease[np.argpartition(-s, K, 1)[:, :K]].mean(1)


def prior_offsets(y, n):
    p = np.clip(y.mean(0), 1e-4, 1 - 1e-4)
    return np.tile(centred(np.log(p / (1 - p))), (n, 1))


def top1(p, y):
    return y[np.arange(len(y)), p.argmax(1)].mean()


def main():
    paths = sys.argv[1:] or __import__("glob").glob(os.path.expanduser("~/.cache/selectllm/embeddings/emb-*.bin"))
    cache = pak.load_cache(paths)
    print("| task | subset seed | gamma (CV) | CV gain | test prior | test conditional | difference [95% CI] | maxconf:1 prior -> conditional |")
    print("|---|---|---|---|---|---|---|---|")
    oracle = []
    for task, tr, te in (("gsm8k", "gsm8k-train.json", "gsm8k-test.json"), ("mmlu", "mmlu_train.json", "mmlu_test.json")):
        X, Y = pak.load(cache, tr)
        xte, yte = pak.load(cache, te)
        W = curves(Y.mean(1), Y)
        p_or = centred(W[:, 0] + np.outer(yte.mean(1), W[:, 1]))
        oracle.append((task, pak.boot_diff(p_or, prior_offsets(Y, len(yte)), yte)))
        for seed in range(6):
            sub = np.random.default_rng(seed).permutation(len(Y))[: int(0.9 * len(Y))]
            x, y = X[sub], Y[sub]
            folds = np.arange(len(y)) % FOLDS
            hits, pairs = np.zeros(len(GAMMAS)), 0
            for f in range(FOLDS):
                a, b = folds != f, folds == f
                ease = y[a].mean(1)
                w = curves(knn_difficulty(x[a], x[a], ease, loo=True), y[a])
                cond = centred(w[:, 0] + np.outer(knn_difficulty(x[b], x[a], ease), w[:, 1]))
                base = prior_offsets(y[a], b.sum())
                for g, gamma in enumerate(GAMMAS):
                    h, n = pak.pair_hits(base + gamma * (cond - base), y[b])
                    hits[g] += h.sum()
                pairs += n.sum()
            g = int(np.argmax(hits - 1e-9 * np.arange(len(GAMMAS))))
            ease = y.mean(1)
            w = curves(knn_difficulty(x, x, ease, loo=True), y)
            cond = centred(w[:, 0] + np.outer(knn_difficulty(xte, x, ease), w[:, 1]))
            base = prior_offsets(y, len(yte))
            p = base + GAMMAS[g] * (cond - base)
            d, lo, hi = pak.boot_diff(p, base, yte)
            print(f"| {task} | {seed} | {GAMMAS[g]} | {(hits[g] - hits[0]) / pairs:+.4f} | {pak.pair_acc(base, yte):.4f} | "
                  f"{pak.pair_acc(p, yte):.4f} | {d:+.4f} [{lo:+.4f}, {hi:+.4f}] | {top1(base, yte):.4f} -> {top1(p, yte):.4f} |")
    for task, (d, lo, hi) in oracle:
        print(f"oracle difficulty, {task}: test pair accuracy {d:+.4f} [{lo:+.4f}, {hi:+.4f}] over the constant prior")


if __name__ == "__main__":
    main()
