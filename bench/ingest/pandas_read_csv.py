"""The peer for bench/ingest: pandas read_csv on the same file (parse only)."""
import sys
import time

import pandas as pd

path = sys.argv[1]
start = time.perf_counter()
df = pd.read_csv(path)
elapsed = time.perf_counter() - start
print(f"{len(df)} {elapsed:.6f}")
