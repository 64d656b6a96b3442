"""bench/prep, the peer: the same statistics (pandas) and transforms
(scikit-learn ColumnTransformer) on the same CSV, loaded beforehand (untimed)."""
import json
import sys
import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler


class QuantileClipper(BaseEstimator, TransformerMixin):
    """Clips to training quantiles (what mlpipe's clip: {quantiles} does)."""

    def __init__(self, low=0.01, high=0.99):
        self.low, self.high = low, high

    def fit(self, X, y=None):
        self.bounds_ = np.quantile(X, [self.low, self.high], axis=0)
        return self

    def transform(self, X):
        return np.clip(X, self.bounds_[0], self.bounds_[1])


df = pd.read_csv(sys.argv[1], parse_dates=["date"])
t0 = time.perf_counter()
stats = df.describe(include="all", percentiles=[0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99],
                    datetime_is_numeric=True)
nunique = df.nunique()
missing = df.isna().sum()
hist = {c: np.histogram(df[c].dropna(), bins=20) for c in ["delay", "distance"]}
t1 = time.perf_counter()
ct = ColumnTransformer([
    ("delay", make_pipeline(SimpleImputer(strategy="median"), QuantileClipper(), StandardScaler()), ["delay"]),
    ("distance", make_pipeline(FunctionTransformer(np.log1p), MinMaxScaler()), ["distance"]),
    ("cats", make_pipeline(SimpleImputer(strategy="most_frequent"),
                           OneHotEncoder(max_categories=10, handle_unknown="infrequent_if_exist",
                                         sparse_output=False)), ["origin", "destination"]),
])
ct.fit(df)
t2 = time.perf_counter()
out = ct.transform(df)
t3 = time.perf_counter()
print(json.dumps({"statistics": t1 - t0, "fit": t2 - t1, "apply": t3 - t2, "total": t3 - t0,
                  "rows": out.shape[0], "features": out.shape[1]}))
