#!/usr/bin/env python3
"""How far can "know the task, call its best member" go on RouterDC's mixed protocol?

Same questions, labels and split as `selectllm eval --dataset routerdc-mixed` (it reuses
`scripts/mixed_reference.py`'s reader and split). Each member's success rate per training task
(mean score on multi-attempt tasks, 0/1 on probability tasks) is the prior; a test question gets
the prior of its task, told or detected from its text by one of several task detectors
(word 1-2 + char_wb 2-4 TF-IDF: multinomial logistic regression, nearest centroid, k nearest
training questions); the member with the highest prior answers (one call). Also: the logistic
per-member probabilities blended into the prior at weight lambda (log-odds). Prints the
RouterDC-comparable figure per task and the macro average (the figure `selectllm eval` prints).

usage: target/bench-venv/bin/python research/task-prior.py [DATA_DIR]
       (scikit-learn as scripts/bench-mixed.sh installs it)
"""
import os
import sys

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from mixed_reference import TEST, TRAIN, load, pick  # noqa: E402


def logit(p):
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SELECTLLM_DATA", "../shared/data")
    xtr, ytr, str_, ttr = [], [], [], []
    for stem in TRAIN:
        task, _, members, x, y, s = load(data, stem)
        for i in pick(len(x)):
            xtr.append(x[i])
            ytr.append(y[i])
            str_.append(s[i])
            ttr.append(task)
    ytr, str_, ttr = np.array(ytr), np.array(str_), np.array(ttr)
    tasks = sorted(set(ttr))
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2)
    xw = normalize(hstack([word.fit_transform(xtr), char.fit_transform(xtr)]).tocsr())
    rates = np.array([str_[ttr == t].mean(axis=0) for t in tasks])  # tasks x members
    glob = ytr.mean(axis=0)
    members_lr = [LogisticRegression(max_iter=2000).fit(xw, ytr[:, m]) for m in range(len(members))]
    task_lr = LogisticRegression(max_iter=2000, C=10.0).fit(xw, ttr)
    cents = normalize(np.vstack([np.asarray(xw[ttr == t].mean(axis=0)) for t in tasks]))
    tests = []
    for stem in TEST:
        task, prob, _, x, y, success = load(data, stem)
        xt = normalize(hstack([word.transform(x), char.transform(x)]).tocsr())
        p = np.column_stack([m.predict_proba(xt)[:, 1] for m in members_lr])
        tests.append((task, prob, xt, y, success, p))

    def detect(name, xt, task):
        if name == "told":
            return np.tile(rates[tasks.index(task)], (xt.shape[0], 1))
        if name == "logistic":
            return task_lr.predict_proba(xt) @ rates  # classes_ are sorted, as `tasks`
        if name == "centroid":
            return rates[np.asarray(xt @ cents.T).argmax(axis=1)]
        k = int(name[3:])
        near = np.argsort(-(xt @ xw.T).toarray(), axis=1)[:, :k]
        idx = np.array([[tasks.index(t) for t in row] for row in ttr[near]])
        return rates[idx].mean(axis=1)

    print("| task detector | lambda | " + " | ".join(t for t, *_ in tests) + " | macro |")
    print("|---|---|" + "---|" * len(tests) + "---|")
    for name in ["told", "logistic", "centroid", "knn20", "knn100"]:
        for lam in [0.0, 0.25] if name == "logistic" else [0.0]:
            figs = []
            for task, prob, xt, y, success, p in tests:
                score = logit(detect(name, xt, task)) + lam * (logit(p) - logit(glob))
                pick_m = score.argmax(axis=1)
                rows = np.arange(len(y))
                figs.append(float((y if prob else success)[rows, pick_m].mean()) * 100)
            cells = " | ".join(f"{f:.2f}" for f in figs)
            print(f"| {name} | {lam} | {cells} | {np.mean(figs):.2f} |")


if __name__ == "__main__":
    main()
