"""The peers for bench/train, on exactly the rows and features the platform
trained on (exported by export_part): Python XGBoost (xgb.train with the
same parameters and threads) and scikit-learn's LogisticRegression(lbfgs).
Times building the DMatrix + training (the data is already in memory, which
the platform's time does not get), then scores AUC on the eval part.

Each is run REPEATS times; the best time counts. gbdt_peak_kb: the
process's peak resident memory once XGBoost has trained (the rows loaded as
float64, the DMatrix, training), before scikit-learn runs.

Usage: xgboost_peer.py TRAIN_PREFIX EVAL_PREFIX COLS ROUNDS DEPTH ETA THREADS C REPEATS
  -> JSON {gbdt_s, gbdt_auc, gbdt_peak_kb, logreg_s, logreg_auc, logreg_iter}
"""
import json
import resource
import sys
import time

import numpy as np
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

train, evaluation, cols = sys.argv[1], sys.argv[2], int(sys.argv[3])
rounds, depth, eta, threads, c = (int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]),
                                  int(sys.argv[7]), float(sys.argv[8]))
repeats = int(sys.argv[9]) if len(sys.argv) > 9 else 1
Xt = np.fromfile(train + ".x", dtype=np.float64).reshape(-1, cols)
yt = np.fromfile(train + ".y", dtype=np.float64)
Xe = np.fromfile(evaluation + ".x", dtype=np.float64).reshape(-1, cols)
ye = np.fromfile(evaluation + ".y", dtype=np.float64)

params = {"objective": "binary:logistic", "max_depth": depth, "eta": eta,
          "tree_method": "hist", "nthread": threads, "seed": 0, "eval_metric": "logloss"}
gbdt_s = float("inf")
for _ in range(repeats):
    dtrain = booster = None  # The last repeat's, freed: one at a time in memory.
    t0 = time.perf_counter()
    dtrain = xgb.DMatrix(Xt, label=yt, nthread=threads)
    booster = xgb.train(params, dtrain, num_boost_round=rounds)
    gbdt_s = min(gbdt_s, time.perf_counter() - t0)
gbdt_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
gbdt_auc = roc_auc_score(ye, booster.predict(xgb.DMatrix(Xe, nthread=threads)))

logreg_s = float("inf")
for _ in range(repeats):
    t0 = time.perf_counter()
    lr = LogisticRegression(C=c, solver="lbfgs", max_iter=1000).fit(Xt, yt)
    logreg_s = min(logreg_s, time.perf_counter() - t0)
logreg_auc = roc_auc_score(ye, lr.predict_proba(Xe)[:, 1])
print(json.dumps({"gbdt_s": gbdt_s, "gbdt_auc": gbdt_auc, "gbdt_peak_kb": gbdt_peak_kb,
                  "logreg_s": logreg_s,
                  "logreg_auc": logreg_auc, "logreg_iter": int(lr.n_iter_[0])}))
