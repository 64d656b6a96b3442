#include "clients/push_client.h"

#include <algorithm>
#include <optional>

#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"

namespace mlpipe::ingest {

struct PushClient::Stream {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::PushRequest, v1::PushResponse>>
      rw;
  std::thread reader;
  std::optional<absl::Status> end;  // Once Finish told it.

  // The stream's status once its responses ended (joins the reader).
  absl::Status End() {
    if (!end.has_value()) {
      if (reader.joinable()) reader.join();
      end = rpc::FromGrpcStatus(rw->Finish());
    }
    return *end;
  }
  ~Stream() {
    if (!end.has_value()) {
      ctx.TryCancel();
      if (reader.joinable()) reader.join();
      if (rw != nullptr) rw->Finish();
    }
  }
};

absl::StatusOr<std::unique_ptr<PushClient>> PushClient::Open(
    std::shared_ptr<grpc::Channel> channel, PushClientOptions options) {
  std::unique_ptr<PushClient> c(
      new PushClient(std::move(channel), std::move(options)));
  if (auto s = c->Connect(); !s.ok()) return s;
  std::lock_guard lock(c->mu_);
  c->stats_.resumed_after = c->stats_.acked;
  return c;
}

PushClient::PushClient(std::shared_ptr<grpc::Channel> channel,
                       PushClientOptions options)
    : channel_(std::move(channel)), options_(std::move(options)) {}

PushClient::~PushClient() { stream_.reset(); }

bool PushClient::Retryable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsCancelled(s) ||
         absl::IsDeadlineExceeded(s) || absl::IsResourceExhausted(s) ||
         absl::IsInternal(s) || absl::IsUnknown(s) || s.ok();
}

absl::Status PushClient::Connect() {
  const auto give_up = std::chrono::steady_clock::now() + options_.retry_for;
  auto backoff = std::chrono::milliseconds(50);
  while (true) {
    absl::Status s = ConnectOnce();
    if (s.ok()) return s;
    if (!Retryable(s)) return s;
    if (std::chrono::steady_clock::now() >= give_up) {
      return absl::UnavailableError(
          StrCat("push to dataset '", options_.dataset, "': no stream for ",
                 options_.retry_for.count() / 1000, " s: ", s.message()));
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

absl::Status PushClient::ConnectOnce() {
  stream_.reset();
  auto st = std::make_unique<Stream>();
  for (const auto& [k, v] : options_.metadata) st->ctx.AddMetadata(k, v);
  auto stub = v1::Ingestion::NewStub(channel_);
  // A channel still failing from the last attempt would refuse the call at
  // once: it waits for the connection instead, a second at most.
  st->ctx.set_wait_for_ready(true);
  st->rw = stub->Push(&st->ctx);
  v1::PushRequest open;
  open.mutable_open()->set_dataset(options_.dataset);
  open.mutable_open()->set_producer(options_.producer);
  open.mutable_open()->set_format(options_.format);
  v1::PushResponse first;
  std::mutex m;
  std::condition_variable cv;
  bool answered = false, timed_out = false;
  std::thread watchdog([&] {
    std::unique_lock lock(m);
    if (!cv.wait_for(lock, std::chrono::seconds(1), [&] { return answered; })) {
      timed_out = true;
      st->ctx.TryCancel();
    }
  });
  const bool opened = st->rw->Write(open) && st->rw->Read(&first);
  {
    std::lock_guard lock(m);
    answered = true;
  }
  cv.notify_one();
  watchdog.join();
  if (!opened) {
    absl::Status s = st->End();
    if (timed_out) {
      return absl::UnavailableError(
          "the ingestion service did not answer within a second (not "
          "reachable?)");
    }
    return s.ok() ? absl::UnavailableError("the push stream ended at once") : s;
  }
  std::vector<v1::PushRequest> resend;
  {
    std::lock_guard lock(mu_);
    AckedLocked(first.acked());
    for (const Unacked& u : unacked_) resend.push_back(u.request);
    dup_base_ = stats_.duplicates;
    ended_ = false;
  }
  cv_.notify_all();
  Stream* raw = st.get();
  st->reader = std::thread([this, raw] { ReadAcks(raw); });
  stream_ = std::move(st);
  for (const auto& r : resend) {
    if (!stream_->rw->Write(r)) break;  // The reader sees the end.
  }
  return absl::OkStatus();
}

void PushClient::ReadAcks(Stream* s) {
  v1::PushResponse r;
  while (s->rw->Read(&r)) {
    if (options_.on_ack) options_.on_ack(r.acked());
    std::lock_guard lock(mu_);
    AckedLocked(r.acked());
    stats_.duplicates = dup_base_ + r.duplicates();
    cv_.notify_all();
  }
  std::lock_guard lock(mu_);
  ended_ = true;
  cv_.notify_all();
}

void PushClient::AckedLocked(int64_t acked) {
  stats_.acked = std::max(stats_.acked, acked);
  while (!unacked_.empty() && unacked_.front().sequence <= stats_.acked) {
    unacked_bytes_ -= unacked_.front().bytes;
    unacked_.pop_front();
  }
}

absl::Status PushClient::Reconnect() {
  absl::Status why = stream_ != nullptr ? stream_->End() : absl::OkStatus();
  if (!Retryable(why)) return why;
  {
    std::lock_guard lock(mu_);
    ++stats_.reconnects;
  }
  return Connect();
}

absl::Status PushClient::Send(int64_t sequence, v1::Frame frame) {
  v1::PushRequest r;
  r.set_sequence(sequence);
  *r.mutable_frame() = std::move(frame);
  return Queue(sequence, std::move(r));
}

absl::Status PushClient::SendJsonLines(int64_t sequence, std::string lines) {
  v1::PushRequest r;
  r.set_sequence(sequence);
  r.set_jsonl(std::move(lines));
  return Queue(sequence, std::move(r));
}

absl::Status PushClient::Queue(int64_t sequence, v1::PushRequest request) {
  if (sequence <= last_sent_) {
    return absl::InvalidArgumentError(
        StrCat("sequence ", sequence, " is not above the last one sent (",
               last_sent_, ")"));
  }
  last_sent_ = sequence;
  const size_t bytes = request.ByteSizeLong();
  {
    std::unique_lock lock(mu_);
    if (sequence <= stats_.acked) return absl::OkStatus();  // Stored before.
    while (true) {
      cv_.wait(lock, [&] {
        return ended_ || unacked_bytes_ == 0 ||
               unacked_bytes_ + bytes <= options_.window_bytes;
      });
      if (!ended_) break;
      lock.unlock();
      if (auto s = Reconnect(); !s.ok()) return s;
      lock.lock();
    }
    unacked_.push_back({sequence, request, bytes});
    unacked_bytes_ += bytes;
  }
  if (stream_->rw->Write(request)) return absl::OkStatus();
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return ended_; });
  }
  return Reconnect();  // Sends it again with the others unacknowledged.
}

absl::Status PushClient::Flush(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  while (true) {
    if (!cv_.wait_until(lock, deadline,
                        [&] { return unacked_.empty() || ended_; })) {
      return absl::DeadlineExceededError(
          StrCat(unacked_.size(), " pushed messages not acknowledged within ",
                 timeout.count(), " ms"));
    }
    if (unacked_.empty()) return absl::OkStatus();
    lock.unlock();
    if (auto s = Reconnect(); !s.ok()) return s;
    lock.lock();
  }
}

absl::Status PushClient::Close() {
  if (auto s = Flush(); !s.ok()) return s;
  if (stream_ == nullptr) return absl::OkStatus();
  stream_->rw->WritesDone();
  absl::Status s = stream_->End();
  stream_.reset();
  return s;
}

int64_t PushClient::acked() const {
  std::lock_guard lock(mu_);
  return stats_.acked;
}

PushClient::Stats PushClient::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace mlpipe::ingest
