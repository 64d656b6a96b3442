// The producers of bench/ingest/push.sh: N threads, each a PushClient with a
// channel of its own, push messages of a dataset's own rows (read back from
// the server) as fast as acknowledgements allow, for a warm-up and then a
// measured interval. Prints one line of key=value figures: rows/s durable
// (acknowledged) in the interval, and the latency from sending a message to
// its acknowledgement (p50, p99, max).
//
// Usage: push_bench --server HOST:PORT --dataset D [--producers 4]
//          [--rows 1000] [--seconds 10] [--warmup 2] [--rate ROWS_PER_S]
// With --rate, the producers together send that many rows a second, evenly
// spaced (latency at a load); without, as fast as they can (throughput).
// With --probe FEATURE_SET --probe-key COLUMN, a fifth producer pushes a row
// with a new entity key every 20 ms and polls Prep/GetOnlineFeatures (every
// 0.5 ms) until the key is served: push-to-online visibility (p50, p99).
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/latencies.h"
#include "clients/push_client.h"
#include "common/table/frame_codec.h"
#include "grpcpp/create_channel.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
using mlpipe::v1::Frame;

std::string Flag(int argc, char** argv, const std::string& name,
                 const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return argv[i + 1];
  }
  return def;
}

std::shared_ptr<grpc::Channel> Channel(const std::string& server, int i) {
  grpc::ChannelArguments args;
  args.SetInt("bench.channel", i);  // A connection per producer.
  args.SetMaxReceiveMessageSize(-1);
  return grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(),
                                   args);
}

std::vector<Frame> ReadFrames(const std::string& server,
                              const std::string& dataset, int64_t rows) {
  auto stub = mlpipe::v1::Ingestion::NewStub(Channel(server, -1));
  grpc::ClientContext ctx;
  mlpipe::v1::ReadBatchesRequest req;
  req.set_dataset(dataset);
  req.set_max_rows_per_frame(rows);
  auto reader = stub->ReadBatches(&ctx, req);
  std::vector<Frame> frames;
  Frame f;
  while (reader->Read(&f)) {
    if (f.num_rows() == rows) frames.push_back(f);
  }
  auto s = reader->Finish();
  if (!s.ok() || frames.empty()) {
    std::cerr << "cannot read frames of " << rows << " rows from " << dataset
              << ": " << s.error_message() << "\n";
    std::exit(1);
  }
  return frames;
}

// Pushes a row with a new key every 20 ms until `stop_at`; the latencies
// until each key is served online (the ones pushed after `measure_from`).
mlpipe::bench::Latencies Probe(const std::string& server,
                               const std::string& dataset,
                               const std::string& feature_set,
                               const std::string& key_column,
                               const Frame& sample,
                               Clock::time_point measure_from,
                               Clock::time_point stop_at) {
  mlpipe::bench::Latencies out;
  Frame row;
  if (!mlpipe::table::FilterFrame(sample, {0}, &row).ok()) std::exit(1);
  int key = -1;
  for (int c = 0; c < row.columns_size(); ++c) {
    if (row.columns(c).name() == key_column) key = c;
  }
  if (key < 0) {
    std::cerr << "no column " << key_column << "\n";
    std::exit(1);
  }
  auto client = mlpipe::ingest::PushClient::Open(
      Channel(server, 100),
      {.dataset = dataset, .producer = "probe-" + std::to_string(::getpid())});
  auto prep = mlpipe::v1::Prep::NewStub(Channel(server, 101));
  if (!client.ok()) std::exit(1);
  for (int64_t i = 1; Clock::now() < stop_at; ++i) {
    const std::string k = "probe-" + std::to_string(i);
    mlpipe::v1::Column* c = row.mutable_columns(key);
    c->clear_dictionary();
    c->clear_codes();
    c->clear_strings();
    c->clear_validity();
    c->add_strings(k);
    const auto sent = Clock::now();
    if (!(*client)->Send(i, row).ok()) std::exit(1);
    while (true) {
      grpc::ClientContext ctx;
      mlpipe::v1::GetOnlineFeaturesRequest req;
      req.set_feature_set(feature_set);
      req.add_keys(k);
      mlpipe::v1::GetOnlineFeaturesResponse resp;
      auto s = prep->GetOnlineFeatures(&ctx, req, &resp);
      if (s.ok() && resp.vectors_size() == 1 && resp.vectors(0).found()) break;
      if (!s.ok() || Clock::now() - sent > std::chrono::seconds(10)) {
        std::cerr << "probe " << k << ": " << s.error_message() << "\n";
        std::exit(1);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    if (sent >= measure_from) {
      out.micros.push_back(
          std::chrono::duration<double, std::micro>(Clock::now() - sent)
              .count());
    }
    std::this_thread::sleep_until(sent + std::chrono::milliseconds(20));
  }
  (void)(*client)->Close();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string server = Flag(argc, argv, "server", "");
  const std::string dataset = Flag(argc, argv, "dataset", "");
  const int producers = std::stoi(Flag(argc, argv, "producers", "4"));
  const int64_t rows = std::stoll(Flag(argc, argv, "rows", "1000"));
  const double seconds = std::stod(Flag(argc, argv, "seconds", "10"));
  const double warmup = std::stod(Flag(argc, argv, "warmup", "2"));
  const double rate = std::stod(Flag(argc, argv, "rate", "0"));
  // Between two messages of one producer, at --rate.
  const auto every = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(rate > 0 ? rows * producers / rate : 0));
  if (server.empty() || dataset.empty()) {
    std::cerr << "usage: push_bench --server HOST:PORT --dataset D\n";
    return 2;
  }
  const std::vector<Frame> frames = ReadFrames(server, dataset, rows);
  const auto start = Clock::now();
  const auto measure_from = start + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(warmup));
  const auto stop_at =
      measure_from + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(seconds));
  std::atomic<int64_t> acked_rows{0};
  std::mutex lat_mu;
  mlpipe::bench::Latencies latencies;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  const std::string probe = Flag(argc, argv, "probe", "");
  mlpipe::bench::Latencies visible;
  if (!probe.empty()) {
    threads.emplace_back([&] {
      visible = Probe(server, dataset, probe, Flag(argc, argv, "probe-key", ""),
                      frames[0], measure_from, stop_at);
    });
  }
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      // Send times of the messages not yet acknowledged.
      std::mutex mu;
      std::map<int64_t, Clock::time_point> sent;
      int64_t last_acked = 0;
      std::vector<double> mine;
      auto on_ack = [&](int64_t acked) {
        const auto now = Clock::now();
        std::lock_guard lock(mu);
        for (auto it = sent.begin(); it != sent.end() && it->first <= acked;
             it = sent.erase(it)) {
          if (it->second >= measure_from && now <= stop_at) {
            mine.push_back(
                std::chrono::duration<double, std::micro>(now - it->second)
                    .count());
            acked_rows.fetch_add(rows, std::memory_order_relaxed);
          }
        }
        last_acked = std::max(last_acked, acked);
      };
      auto client = mlpipe::ingest::PushClient::Open(
          Channel(server, p), {.dataset = dataset,
                               .producer = "bench-" + std::to_string(p) + "-" +
                                           std::to_string(::getpid()),
                               .window_bytes = 8 << 20,
                               .on_ack = on_ack});
      if (!client.ok()) {
        std::cerr << "open: " << client.status() << "\n";
        failed = true;
        return;
      }
      auto next = Clock::now() + every * p / producers;
      for (int64_t seq = 1; Clock::now() < stop_at; ++seq) {
        if (rate > 0) {
          std::this_thread::sleep_until(next);
          next += every;
        }
        {
          std::lock_guard lock(mu);
          sent[seq] = Clock::now();
        }
        auto s = (*client)->Send(seq, frames[(seq + p) % frames.size()]);
        if (!s.ok()) {
          std::cerr << "send: " << s << "\n";
          failed = true;
          return;
        }
      }
      if (auto s = (*client)->Close(); !s.ok()) {
        std::cerr << "close: " << s << "\n";
        failed = true;
      }
      std::lock_guard lock(lat_mu);
      std::lock_guard mine_lock(mu);
      latencies.micros.insert(latencies.micros.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  if (failed || latencies.micros.empty()) return 1;
  std::cout << "rows_per_s=" << static_cast<int64_t>(acked_rows / seconds)
            << " messages=" << latencies.micros.size()
            << " ack_p50_ms=" << latencies.Quantile(0.5) / 1000
            << " ack_p99_ms=" << latencies.Quantile(0.99) / 1000
            << " ack_max_ms=" << latencies.Quantile(1.0) / 1000;
  if (!visible.micros.empty()) {
    std::cout << " probes=" << visible.micros.size()
              << " visible_p50_ms=" << visible.Quantile(0.5) / 1000
              << " visible_p99_ms=" << visible.Quantile(0.99) / 1000
              << " visible_max_ms=" << visible.Quantile(1.0) / 1000;
  }
  std::cout << "\n";
  return 0;
}
