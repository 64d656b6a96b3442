"""Reads a Run (JSON) and prints: wall seconds, steps, states."""
import json
import sys
from datetime import datetime

run = json.load(sys.stdin)

def ts(s):
    return datetime.strptime(s.rstrip("Z")[:26], "%Y-%m-%dT%H:%M:%S.%f")

wall = (ts(run["finished_at"]) - ts(run["created_at"])).total_seconds()
states = {}
for s in run["steps"]:
    states[s["state"]] = states.get(s["state"], 0) + 1
print(f"{wall:.6f} {len(run['steps'])} {run['state']} {states}")
