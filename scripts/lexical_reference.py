#!/usr/bin/env python3
"""scikit-learn reference for the lexical classifier: TF-IDF + one-vs-rest logistic regression.

Same data and split as `selectllm eval --dataset routerdc-<task>`: train on the RouterDC train
file minus a 10% validation hold-out (the reference does not need validation: it is only left
out so the training questions are the same count), test on the test file. Prints mean ROC-AUC
and the per-question routing time (featurize + predict one question at a time).

usage: lexical_reference.py DATA_DIR TASK [N_TIMED]      TASK: gsm8k | mmlu
"""
import json
import sys
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.multiclass import OneVsRestClassifier


def load(path, task, threshold=0.5):
    """Labels by task family, as our reader: MMLU scores are probabilities of the gold option
    (correct iff > 0); GSM8K scores are shares of 10 samples (correct iff >= threshold)."""
    rows = json.load(open(path))
    members = sorted(rows[0]["scores"])
    x = [r["question"] for r in rows]
    right = (lambda s: s > 0) if task == "mmlu" else (lambda s: s >= threshold)
    y = np.array([[right(r["scores"][m]) for m in members] for r in rows], dtype=int)
    return members, x, y


def main():
    data, task = sys.argv[1], sys.argv[2]
    n_timed = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    names = {"gsm8k": ("gsm8k-train.json", "gsm8k-test.json"), "mmlu": ("mmlu_train.json", "mmlu_test.json")}[task]
    members, xtr, ytr = load(f"{data}/routerdc/{names[0]}", task)
    _, xte, yte = load(f"{data}/routerdc/{names[1]}", task)
    vec = TfidfVectorizer(sublinear_tf=True)
    clf = OneVsRestClassifier(LogisticRegression(max_iter=2000))
    t0 = time.perf_counter()
    clf.fit(vec.fit_transform(xtr), ytr)
    train_s = time.perf_counter() - t0
    p = clf.predict_proba(vec.transform(xte))
    aucs = [roc_auc_score(yte[:, j], p[:, j]) for j in range(len(members)) if 0 < yte[:, j].sum() < len(yte)]
    # per-question routing time, one question at a time
    qs = xte[:n_timed]
    t0 = time.perf_counter()
    for q in qs:
        clf.predict_proba(vec.transform([q]))
    per_q = (time.perf_counter() - t0) / len(qs)
    print(json.dumps({"task": task, "mean_auc": float(np.mean(aucs)), "train_s": train_s,
                      "route_us_per_question": per_q * 1e6, "n_timed": len(qs)}))


if __name__ == "__main__":
    main()
