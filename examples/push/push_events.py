#!/usr/bin/env python3
"""Pushes events to an mlpipe dataset with Ingestion/Push, exactly once.

Stubs from the platform's .proto files (once):
  mkdir -p stubs && protoc -I proto --python_out=stubs --grpc_python_out=stubs \
    --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin \
    mlpipe/v1/ingest_service.proto mlpipe/v1/dataset.proto mlpipe/v1/frame.proto
Then:
  python3 examples/push/push_events.py stubs localhost:7000 payments app-1 events.jsonl

Each message carries up to 500 JSON lines and the number of its last line as
its sequence. The first response says which line the producer stored last:
a run after a crash (or on the same file grown since) sends only the lines
after it, and the server drops any message it stored before, so every line
is stored once. Prints the
last acknowledged sequence.
"""
import sys
import threading

stubs, server, dataset, producer, path = sys.argv[1:6]
sys.path.insert(0, stubs)
import grpc  # noqa: E402
from mlpipe.v1 import ingest_service_pb2 as pb  # noqa: E402
from mlpipe.v1 import ingest_service_pb2_grpc as rpc  # noqa: E402

with open(path, encoding="utf-8") as f:
    lines = [line for line in f if line.strip()]

first = threading.Event()
start = {}


def requests():
    yield pb.PushRequest(open=pb.PushOpen(dataset=dataset, producer=producer,
                                          format=pb.JSONL))
    first.wait()  # Where the producer stands: send only what is after it.
    for begin in range(start["acked"], len(lines), 500):
        end = min(begin + 500, len(lines))
        yield pb.PushRequest(sequence=end,
                             jsonl="".join(lines[begin:end]).encode())


acked = 0
channel = grpc.insecure_channel(server)
for response in rpc.IngestionStub(channel).Push(requests()):
    acked = response.acked
    if not first.is_set():
        start["acked"] = acked
        first.set()
print(acked)
