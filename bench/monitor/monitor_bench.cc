// bench/monitor's harness: a drift report over FEATURES numeric features,
// ROWS reference rows against ROWS current rows (fixed seeds; some features
// shifted, scaled or reshaped in the current rows).
//
//   monitor_bench generate ROWS FEATURES DIR   writes DIR/ref.f64, DIR/cur.f64
//                                              (feature-major doubles) for the
//                                              peer
//   monitor_bench report ROWS FEATURES DIR THREADS
//     profiles both sets (the monitor's mergeable sketches, the features
//     spread over THREADS threads) and compares them: the whole drift report
//     from raw values; then the report alone from the two profiles (what
//     GetReport does, the profiles being kept as predictions arrive).
//     Prints JSON: seconds, and per feature KS, PSI, Wasserstein, JS.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "services/monitor/profile.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Feature j of one set: a mix of shapes; the current set moves some.
std::vector<double> Feature(int j, size_t rows, bool current) {
  std::mt19937_64 rng(1000 * j + (current ? 1 : 0));
  std::vector<double> v(rows);
  const bool moved = current && j % 4 == 0;
  switch (j % 5) {
    case 0: {
      std::normal_distribution<double> d(moved ? 0.3 : 0.0, 1.0);
      for (auto& x : v) x = d(rng);
      break;
    }
    case 1: {
      std::lognormal_distribution<double> d(3, moved ? 0.8 : 0.6);
      for (auto& x : v) x = d(rng);
      break;
    }
    case 2: {
      std::exponential_distribution<double> d(moved ? 0.5 : 1.0);
      for (auto& x : v) x = d(rng);
      break;
    }
    case 3: {
      std::uniform_real_distribution<double> d(0, moved ? 120 : 100);
      for (auto& x : v) x = d(rng);
      break;
    }
    default: {
      std::poisson_distribution<int> d(moved ? 6 : 5);  // Ties.
      for (auto& x : v) x = d(rng);
    }
  }
  return v;
}

std::string Name(int j) { return "f" + std::to_string(j); }

void Write(const std::string& path,
           const std::vector<std::vector<double>>& fs) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::perror(path.c_str());
    std::exit(1);
  }
  for (const auto& v : fs) std::fwrite(v.data(), sizeof(double), v.size(), f);
  std::fclose(f);
}

std::vector<std::vector<double>> Generate(size_t rows, int features,
                                          bool current) {
  std::vector<std::vector<double>> out(features);
  for (int j = 0; j < features; ++j) out[j] = Feature(j, rows, current);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: monitor_bench generate|report ROWS FEATURES DIR "
                 "[THREADS]\n";
    return 2;
  }
  const std::string mode = argv[1];
  const size_t rows = std::stoull(argv[2]);
  const int features = std::stoi(argv[3]);
  const std::string dir = argv[4];
  if (mode == "generate") {
    Write(dir + "/ref.f64", Generate(rows, features, false));
    Write(dir + "/cur.f64", Generate(rows, features, true));
    return 0;
  }
  const int threads = argc > 5 ? std::stoi(argv[5]) : 2;
  const auto ref = Generate(rows, features, false);
  const auto cur = Generate(rows, features, true);
  using mlpipe::monitor::Profiler;

  // The whole report from raw values: profile, then compare.
  const auto t0 = Clock::now();
  std::vector<Profiler> ref_parts(threads), cur_parts(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int j = t; j < features; j += threads) {
        ref_parts[t].AddNumbers(Name(j), ref[j].data(), rows);
        cur_parts[t].AddNumbers(Name(j), cur[j].data(), rows);
      }
    });
  }
  for (auto& th : pool) th.join();
  Profiler reference = std::move(ref_parts[0]),
           current = std::move(cur_parts[0]);
  for (int t = 1; t < threads; ++t) {
    if (!reference.Merge(ref_parts[t]).ok() ||
        !current.Merge(cur_parts[t]).ok())
      return 1;
  }
  const mlpipe::v1::Profile rp = reference.ToProto(), cp = current.ToProto();
  const auto t1 = Clock::now();
  auto report = mlpipe::monitor::Compare(rp, cp);
  const auto t2 = Clock::now();
  if (!report.ok()) {
    std::cerr << report.status() << "\n";
    return 1;
  }
  // The report alone, again, from the stored form of the profiles.
  const auto t3 = Clock::now();
  auto again = mlpipe::monitor::Compare(rp, cp);
  const auto t4 = Clock::now();
  if (!again.ok()) return 1;
  size_t profile_bytes = rp.ByteSizeLong() + cp.ByteSizeLong();
  std::printf(
      "{\"profile_s\": %.6f, \"compare_s\": %.6f, \"total_s\": %.6f, "
      "\"report_only_s\": %.6f, \"profile_bytes\": %zu, \"drifted\": %d, "
      "\"fields\": [",
      Seconds(t0, t1), Seconds(t1, t2), Seconds(t0, t2), Seconds(t3, t4),
      profile_bytes, report->drifted_size());
  // In feature order.
  for (int j = 0; j < features; ++j) {
    for (const auto& f : report->fields()) {
      if (f.name() != Name(j)) continue;
      std::printf(
          "%s{\"name\": \"%s\", \"ks\": %.17g, \"psi\": %.17g, "
          "\"wasserstein_std\": %.17g, \"js\": %.17g}",
          j ? ", " : "", f.name().c_str(), f.ks(), f.psi(), f.wasserstein(),
          f.jensenshannon());
    }
  }
  std::printf("]}\n");
  return 0;
}
