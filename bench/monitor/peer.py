"""bench/monitor's peer: the same drift report with scipy and numpy.

Per feature: scipy.stats.ks_2samp (statistic and p-value) and the PSI over
the reference's deciles in numpy (the two named by DESIGN.md section 6);
then, separately timed, scipy's wasserstein_distance and jensenshannon of
the decile shares (the rest of what mlpipe's report holds).
Prints JSON.
"""
import json
import sys
import time

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon


def main():
    rows, features, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    ref = np.fromfile(f"{d}/ref.f64", dtype=np.float64).reshape(features, rows)
    cur = np.fromfile(f"{d}/cur.f64", dtype=np.float64).reshape(features, rows)
    out = []
    t0 = time.perf_counter()
    shares = []
    for j in range(features):
        a, b = ref[j], cur[j]
        ks = stats.ks_2samp(a, b)
        edges = np.unique(np.quantile(a, np.arange(1, 10) / 10))
        p = np.bincount(np.digitize(a, edges, right=True), minlength=len(edges) + 1) / len(a)
        q = np.bincount(np.digitize(b, edges, right=True), minlength=len(edges) + 1) / len(b)
        pf, qf = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
        psi = float(np.sum((qf - pf) * np.log(qf / pf)))
        shares.append((p, q))
        out.append({"name": f"f{j}", "ks": float(ks.statistic), "ks_p": float(ks.pvalue), "psi": psi})
    t1 = time.perf_counter()
    for j in range(features):
        a, b = ref[j], cur[j]
        sd = a.std()
        out[j]["wasserstein_std"] = float(stats.wasserstein_distance(a, b) / (sd if sd > 0 else 1))
        out[j]["js"] = float(jensenshannon(*shares[j]))
    t2 = time.perf_counter()
    print(json.dumps({"ks_psi_s": t1 - t0, "all_s": t2 - t0, "fields": out}))


if __name__ == "__main__":
    main()
