"""bench/monitor (drift at scale)'s peer: the full report for the features
monitor_bench scale exported, with scipy and numpy, then extrapolated to
every feature (labelled as such in the output).

Numeric (each exported feature): scipy.stats.ks_2samp, numpy PSI over the
reference's deciles, scipy.stats.wasserstein_distance (over the reference's
std), scipy.spatial.distance.jensenshannon of the decile shares.
Categorical (the exported one): scipy.stats.chi2_contingency of the 2 x K
counts, jensenshannon of the shares, PSI of the shares.
Usage: peer_scale.py DIR ROWS PEER_NUMERIC NUMERIC CATEGORICAL -> JSON
"""
import json
import sys
import time

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon


def numeric(a, b):
    ks = stats.ks_2samp(a, b)
    edges = np.unique(np.quantile(a, np.arange(1, 10) / 10))
    p = np.bincount(np.digitize(a, edges, right=True), minlength=len(edges) + 1) / len(a)
    q = np.bincount(np.digitize(b, edges, right=True), minlength=len(edges) + 1) / len(b)
    pf, qf = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    sd = a.std()
    return {"ks": float(ks.statistic), "psi": float(np.sum((qf - pf) * np.log(qf / pf))),
            "wasserstein": float(stats.wasserstein_distance(a, b) / (sd if sd > 0 else 1)),
            "js": float(jensenshannon(p, q))}


def categorical(a, b):
    k = int(max(a.max(), b.max())) + 1
    p, q = np.bincount(a, minlength=k), np.bincount(b, minlength=k)
    keep = (p + q) > 0
    chi2 = stats.chi2_contingency(np.vstack([p[keep], q[keep]]))
    ps, qs = p / p.sum(), q / q.sum()
    pf, qf = np.maximum(ps, 1e-4), np.maximum(qs, 1e-4)
    return {"chi2": float(chi2[0]), "js": float(jensenshannon(ps, qs)),
            "psi": float(np.sum((qf - pf) * np.log(qf / pf)))}


def main():
    d, rows, peer, n_num, n_cat = sys.argv[1], *map(int, sys.argv[2:6])
    ref = np.fromfile(f"{d}/ref.f64", dtype=np.float64).reshape(peer, rows)
    cur = np.fromfile(f"{d}/cur.f64", dtype=np.float64).reshape(peer, rows)
    cat = np.fromfile(f"{d}/cat.u8", dtype=np.uint8).reshape(2, rows).astype(np.int64)
    fields = []
    t0 = time.perf_counter()
    for j in range(peer):
        fields.append({"name": f"f{j}", **numeric(ref[j], cur[j])})
    t1 = time.perf_counter()
    fields.append({"name": f"f{n_num}", **categorical(cat[0], cat[1])})
    t2 = time.perf_counter()
    per_num, per_cat = (t1 - t0) / peer, t2 - t1
    print(json.dumps({"numeric_s_each": per_num, "categorical_s_each": per_cat,
                      "measured_s": t2 - t0,
                      "extrapolated_s": per_num * n_num + per_cat * n_cat,
                      "fields": fields}))


if __name__ == "__main__":
    main()
