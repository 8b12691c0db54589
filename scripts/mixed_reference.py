#!/usr/bin/env python3
"""scikit-learn reference on RouterDC's mixed protocol (`selectllm eval --dataset routerdc-mixed`).

Same questions, labels and split as ours (crates/selectllm-lab/src/data/mixed.rs): per training
task the first 1,000 questions of the file, a smaller file repeated whole up to 1,000; every
tenth distinct kept question is held out for validation (left out here, so the training
questions are the same); tests on each task's test file. Labels by task family: probability
tasks (MMLU, CMMLU, ARC-C) correct iff score > 0; multi-attempt tasks (GSM8K, HumanEval)
correct iff score >= 0.5, success rate = score.

Model: word 1-2 + char 2-4 TF-IDF, one logistic regression per member on the labels; one call
per question to the argmax member. Prints JSON: mean ROC-AUC over members (all test
questions), per task accuracy (labels) and sample accuracy (chosen member's score; the figure
RouterDC publishes on multi-attempt tasks), and the macro average of the RouterDC-comparable
figure. One run, no seeds involved beyond scikit-learn's deterministic solvers.

usage: mixed_reference.py DATA_DIR [--ood]
"""
import json
import sys

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

TRAIN = ["gsm8k-train", "mmlu_train", "cmmlu_train", "arc_challenge_train", "humaneval_train"]
TEST = ["gsm8k-test", "mmlu_test", "cmmlu_test", "arc_challenge_test", "humaneval_test"]
OOD = ["MATH_prealgebra", "mbpp", "ceval"]
PROBABILITY = {"mmlu", "cmmlu", "arc_challenge", "arc_easy", "ceval", "math_prealgebra"}
CAP = 1000


def task_of(stem):
    s = stem.lower()
    for suffix in ("_train", "_test", "-train", "-test"):
        if s.endswith(suffix):
            return s[: -len(suffix)]
    return s


def load(data, stem):
    rows = json.load(open(f"{data}/routerdc/{stem}.json"))
    members = sorted(rows[0]["scores"])
    task = task_of(stem)
    prob = task in PROBABILITY
    x = [r["question"] for r in rows]
    scores = np.array([[r["scores"][m] for m in members] for r in rows], dtype=float)
    labels = scores > 0 if prob else scores >= 0.5
    success = labels.astype(float) if prob else scores
    return task, prob, members, x, labels.astype(int), success


def pick(n):
    kept = min(n, CAP)
    val = [i for i in range(kept) if i % 10 == 9]
    distinct = [i for i in range(kept) if i % 10 != 9]
    want = CAP - len(val)
    train = list(distinct)
    while len(train) < want:
        train.extend(distinct[: want - len(train)])
    return train


def main():
    data = sys.argv[1]
    tests = OOD if "--ood" in sys.argv[2:] else TEST
    xtr, ytr = [], []
    members = None
    for stem in TRAIN:
        _, _, members, x, y, _ = load(data, stem)
        for i in pick(len(x)):
            xtr.append(x[i])
            ytr.append(y[i])
    ytr = np.array(ytr)
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2)
    xw = hstack([word.fit_transform(xtr), char.fit_transform(xtr)]).tocsr()
    models = [LogisticRegression(max_iter=2000, C=1.0).fit(xw, ytr[:, m]) for m in range(len(members))]
    all_p, all_y, tasks = [], [], {}
    for stem in tests:
        task, prob, _, x, y, success = load(data, stem)
        xt = hstack([word.transform(x), char.transform(x)]).tocsr()
        p = np.column_stack([mdl.predict_proba(xt)[:, 1] for mdl in models])
        choice = p.argmax(axis=1)
        rows = np.arange(len(x))
        acc = float(y[rows, choice].mean())
        sample = float(success[rows, choice].mean())
        tasks[task] = {"accuracy": acc, "sample_accuracy": None if prob else sample, "n_test": len(x)}
        all_p.append(p)
        all_y.append(y)
    p, y = np.vstack(all_p), np.vstack(all_y)
    aucs = [roc_auc_score(y[:, j], p[:, j]) for j in range(len(members)) if 0 < y[:, j].sum() < len(y)]
    comparable = [t["sample_accuracy"] if t["sample_accuracy"] is not None else t["accuracy"] for t in tasks.values()]
    print(json.dumps({
        "protocol": "routerdc-mixed-ood" if tests is OOD else "routerdc-mixed",
        "model": "scikit-learn word 1-2 + char_wb 2-4 TF-IDF, one LogisticRegression per member, argmax member",
        "train_questions": len(xtr),
        "mean_auc": float(np.mean(aucs)),
        "tasks": tasks,
        "macro_accuracy": float(np.mean(comparable)),
    }))


if __name__ == "__main__":
    main()
