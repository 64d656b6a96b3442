"""The peer for bench/split: a stratified split with scikit-learn's
train_test_split on the same data held in memory, and the train part taken
out of the feature matrix (numpy), as a user without the platform would.

Usage: sklearn_peer.py CSV   -> JSON {rows, split_s, take_s, train_rows}
"""
import json
import sys
import time

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

df = pd.read_csv(sys.argv[1])
# The same features as the platform's feature set: distance standardized,
# origin and destination one-hot over their 20 most frequent values.
cols = [((df["distance"] - df["distance"].mean()) / df["distance"].std(ddof=0)).to_numpy()]
for c in ("origin", "destination"):
    top = df[c].value_counts().index[:20]
    for v in top:
        cols.append((df[c] == v).to_numpy(dtype=np.float64))
X = np.column_stack(cols)
y = df["delay"].to_numpy(dtype=np.float64)
strata = pd.qcut(y, 10, labels=False, duplicates="drop")

t0 = time.perf_counter()
idx = np.arange(len(y))
train, rest = train_test_split(idx, train_size=0.8, stratify=strata, random_state=1)
evaluation, test = train_test_split(rest, train_size=0.5, stratify=strata[rest], random_state=1)
t1 = time.perf_counter()
Xtr, ytr = X[np.sort(train)], y[np.sort(train)]
t2 = time.perf_counter()
print(json.dumps({"rows": len(y), "split_s": t1 - t0, "take_s": t2 - t1,
                  "train_rows": int(len(Xtr)), "columns": int(X.shape[1]) + 1}))
