// A producer of the ingestion service's Push stream: sends messages of rows
// with the sequence numbers the caller gives, keeps those not yet
// acknowledged (bounded), and after a broken stream (the server restarted,
// the connection dropped) opens another and sends again what the server has
// not stored: with the server's deduplication by (producer, sequence), each
// message is stored exactly once.
#ifndef MLPIPE_CLIENTS_PUSH_CLIENT_H_
#define MLPIPE_CLIENTS_PUSH_CLIENT_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "mlpipe/v1/ingest_service.pb.h"

namespace mlpipe::ingest {

struct PushClientOptions {
  std::string dataset;
  std::string producer;
  v1::DataFormat format = v1::FRAMES;  // Or JSONL.
  // Bytes of messages sent and not yet acknowledged before Send waits.
  size_t window_bytes = 16 << 20;
  // How long to keep trying to reach the server after a broken stream
  // before giving up (UNAVAILABLE); retries back off from 50 ms to 1 s.
  std::chrono::milliseconds retry_for{60000};
  // Per-call metadata (credentials), added to every stream.
  std::vector<std::pair<std::string, std::string>> metadata;
  // Called with each new acknowledged sequence, from the thread that reads
  // the stream's responses (keep it short). May be empty.
  std::function<void(int64_t)> on_ack;
};

// For one thread (the producer's), except acked() and stats().
class PushClient {
 public:
  struct Stats {
    int64_t acked = 0;          // Highest acknowledged sequence.
    int64_t resumed_after = 0;  // The producer's mark when first opened.
    int64_t duplicates = 0;     // Messages the server had stored before.
    int64_t reconnects = 0;     // New streams after one broke.
  };

  // Opens the stream; the producer's mark (stats().resumed_after) tells
  // what it stored before: sequences up to it need not be sent again.
  // NOT_FOUND (no dataset), INVALID_ARGUMENT, or the connection's error.
  static absl::StatusOr<std::unique_ptr<PushClient>> Open(
      std::shared_ptr<grpc::Channel> channel, PushClientOptions options);
  ~PushClient();  // Abandons the stream (what is unacknowledged is not sent).

  // Sends one message (its sequence > the previous one's; at or below the
  // mark it is skipped). Waits while the window is full. An error is for
  // good: the message (or one before it) was refused (INVALID_ARGUMENT
  // naming the sequence), another stream of the producer took over
  // (ABORTED), or the server could not be reached for retry_for.
  absl::Status Send(int64_t sequence, v1::Frame frame);
  absl::Status SendJsonLines(int64_t sequence, std::string lines);
  // Waits until every message sent is acknowledged (durable).
  absl::Status Flush(
      std::chrono::milliseconds timeout = std::chrono::minutes(5));
  // Flush, then ends the stream.
  absl::Status Close();

  int64_t acked() const;
  Stats stats() const;

 private:
  struct Stream;
  struct Unacked {
    int64_t sequence;
    v1::PushRequest request;
    size_t bytes;
  };
  PushClient(std::shared_ptr<grpc::Channel> channel, PushClientOptions options);
  absl::Status Queue(int64_t sequence, v1::PushRequest request);
  // Opens a stream and sends what is unacknowledged; retries until
  // retry_for passes. Errors other than UNAVAILABLE-like are for good.
  absl::Status Connect();
  absl::Status ConnectOnce();
  // After the stream ended: its error when it is for good, else Connect().
  absl::Status Reconnect();
  void ReadAcks(Stream* stream);
  // Everything up to `acked` is durable: no longer kept. REQUIRES: mu_.
  void AckedLocked(int64_t acked);
  // Whether a new stream may help after the stream ended with `s`.
  static bool Retryable(const absl::Status& s);

  const std::shared_ptr<grpc::Channel> channel_;
  const PushClientOptions options_;
  std::unique_ptr<Stream> stream_;
  int64_t last_sent_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Unacked> unacked_;  // GUARDED_BY(mu_)
  size_t unacked_bytes_ = 0;     // GUARDED_BY(mu_)
  Stats stats_;                  // GUARDED_BY(mu_)
  int64_t dup_base_ = 0;  // Duplicates before this stream. GUARDED_BY(mu_)
  bool ended_ = false;    // The responses ended. GUARDED_BY(mu_)
};

}  // namespace mlpipe::ingest

#endif  // MLPIPE_CLIENTS_PUSH_CLIENT_H_
