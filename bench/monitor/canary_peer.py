"""The peer for bench/monitor/canary.sh: what a user would run for the
same check in Python, on the same records: scikit-learn's roc_auc_score for
each arm, and DeLong's variance by the fast midrank algorithm (Sun & Xu
2014, the usual numpy implementation), both timed; reading the files is not.

Usage: canary_peer.py DIR -> JSON {seconds, auc_canary, auc_primary}
"""
import json
import sys
import time

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score


def delong_variance(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    m, n = len(pos), len(neg)
    tx, ty = rankdata(pos), rankdata(neg)
    tz = rankdata(np.concatenate([pos, neg]))
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v01 = (tz[:m] - tx) / n
    v10 = 1 - (tz[m:] - ty) / m
    return auc, np.var(v01, ddof=1) / m + np.var(v10, ddof=1) / n


def main():
    d = sys.argv[1]
    arms = {}
    for name in ("canary", "primary"):
        a = np.fromfile(f"{d}/{name}.f64").reshape(-1, 2)
        arms[name] = (a[:, 0].copy(), a[:, 1].astype(np.int8))
    t0 = time.perf_counter()
    out = {}
    for name, (s, y) in arms.items():
        out[f"auc_{name}"] = roc_auc_score(y, s)
        out[f"delong_{name}"] = delong_variance(s, y)[1]
    out["seconds"] = time.perf_counter() - t0
    print(json.dumps(out))


main()
