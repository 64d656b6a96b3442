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
//   monitor_bench scale ROWS NUMERIC CATEGORICAL THREADS DIR PEER_FEATURES
//     Drift at scale: NUMERIC numeric and CATEGORICAL categorical features,
//     ROWS reference and ROWS current rows each, never all in memory: the
//     features are generated a batch at a time (not timed), then profiled
//     on THREADS threads (timed), and the report made from the two merged
//     profiles (timed). Generation draws each feature's values with
//     replacement from a 65,536-value sample of its shape (numeric) or from
//     its category shares (50 categories, Zipf-like; the current rows move
//     every fourth feature). The first PEER_FEATURES numeric features and
//     the first categorical one are written to DIR for the peer
//     (peer_scale.py). Prints JSON: times, peak RSS, per-feature statistics
//     of the exported features.
#include <sys/resource.h>

#include <algorithm>
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

// --- scale ------------------------------------------------------------------

int Fail(const std::string& why) {
  std::fprintf(stderr, "monitor_bench: %s\n", why.c_str());
  return 1;
}

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Numeric feature j: ROWS values drawn from a sample of its shape.
void NumericColumn(int j, bool current, std::vector<double>* out) {
  const std::vector<double> base = Feature(j, 1 << 16, current);
  uint64_t state = 7919u * j + (current ? 1 : 0);
  for (double& x : *out) x = base[SplitMix(state) >> 48];
}

constexpr int kCategories = 50;

std::vector<std::string> Dictionary() {
  std::vector<std::string> d;
  for (int c = 0; c < kCategories; ++c)
    d.push_back("category-" + std::to_string(c));
  return d;
}

// Categorical feature j: codes into Dictionary(), Zipf-like shares; the
// current rows of every fourth feature favour the rarer categories.
void CategoricalColumn(int j, bool current, std::vector<uint8_t>* out) {
  double w[kCategories], total = 0;
  const bool moved = current && j % 4 == 0;
  for (int c = 0; c < kCategories; ++c) {
    w[c] = 1.0 / std::pow(c + 1.0, moved ? 0.9 : 1.1);
    total += w[c];
  }
  uint8_t table[4096];
  int c = 0;
  double cum = w[0] / total;
  for (int i = 0; i < 4096; ++i) {
    while ((i + 0.5) / 4096 > cum && c + 1 < kCategories) cum += w[++c] / total;
    table[i] = static_cast<uint8_t>(c);
  }
  uint64_t state = 104729u * j + (current ? 1 : 0);
  for (uint8_t& x : *out) x = table[SplitMix(state) >> 52];
}

long PeakRssKb() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

int Scale(int argc, char** argv) {
  if (argc != 8) {
    std::cerr << "usage: monitor_bench scale ROWS NUMERIC CATEGORICAL THREADS "
                 "DIR PEER_FEATURES\n";
    return 2;
  }
  const size_t rows = std::stoull(argv[2]);
  const int numeric = std::stoi(argv[3]), categorical = std::stoi(argv[4]);
  const int threads = std::stoi(argv[5]);
  const std::string dir = argv[6];
  const int peer = std::stoi(argv[7]);
  const int features = numeric + categorical;
  const int batch = 2 * threads;  // Features in memory at once, per set.
  const std::vector<std::string> dict = Dictionary();
  using mlpipe::monitor::Profiler;
  std::vector<Profiler> ref(threads), cur(threads);
  double generate_s = 0, profile_s = 0;
  struct Slot {
    std::vector<double> ref_x, cur_x;
    std::vector<std::string_view> ref_s, cur_s;
  };
  std::vector<Slot> slots(batch);
  std::FILE* peer_ref = std::fopen((dir + "/ref.f64").c_str(), "wb");
  std::FILE* peer_cur = std::fopen((dir + "/cur.f64").c_str(), "wb");
  std::FILE* peer_cat = std::fopen((dir + "/cat.u8").c_str(), "wb");
  if (!peer_ref || !peer_cur || !peer_cat)
    return Fail("cannot write to " + dir);
  auto parallel = [&](auto&& body) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(body, t);
    for (auto& th : pool) th.join();
  };
  for (int first = 0; first < features; first += batch) {
    const int n = std::min(batch, features - first);
    auto t0 = Clock::now();
    parallel([&](int t) {
      std::vector<uint8_t> codes(rows);
      for (int b = t; b < n; b += threads) {
        const int j = first + b;
        Slot& s = slots[b];
        if (j < numeric) {
          s.ref_x.resize(rows);
          s.cur_x.resize(rows);
          NumericColumn(j, false, &s.ref_x);
          NumericColumn(j, true, &s.cur_x);
          continue;
        }
        for (int set = 0; set < 2; ++set) {
          CategoricalColumn(j, set == 1, &codes);
          auto& out = set == 0 ? s.ref_s : s.cur_s;
          out.resize(rows);
          for (size_t i = 0; i < rows; ++i) out[i] = dict[codes[i]];
          if (j == numeric) std::fwrite(codes.data(), 1, rows, peer_cat);
        }
      }
    });
    for (int b = 0; b < n && first + b < peer && first + b < numeric; ++b) {
      std::fwrite(slots[b].ref_x.data(), sizeof(double), rows, peer_ref);
      std::fwrite(slots[b].cur_x.data(), sizeof(double), rows, peer_cur);
    }
    auto t1 = Clock::now();
    parallel([&](int t) {
      for (int b = t; b < n; b += threads) {
        const int j = first + b;
        const Slot& s = slots[b];
        if (j < numeric) {
          ref[t].AddNumbers(Name(j), s.ref_x.data(), rows);
          cur[t].AddNumbers(Name(j), s.cur_x.data(), rows);
        } else {
          ref[t].AddStrings(Name(j), s.ref_s.data(), rows);
          cur[t].AddStrings(Name(j), s.cur_s.data(), rows);
        }
      }
    });
    auto t2 = Clock::now();
    generate_s += Seconds(t0, t1);
    profile_s += Seconds(t1, t2);
  }
  std::fclose(peer_ref);
  std::fclose(peer_cur);
  std::fclose(peer_cat);
  slots.clear();
  slots.shrink_to_fit();
  const auto t3 = Clock::now();
  for (int t = 1; t < threads; ++t) {
    if (!ref[0].Merge(ref[t]).ok() || !cur[0].Merge(cur[t]).ok()) return 1;
  }
  const mlpipe::v1::Profile rp = ref[0].ToProto(), cp = cur[0].ToProto();
  auto report = mlpipe::monitor::Compare(rp, cp);
  const auto t4 = Clock::now();
  if (!report.ok()) {
    std::cerr << report.status() << "\n";
    return 1;
  }
  const double compare_s = Seconds(t3, t4);
  std::printf(
      "{\"rows\": %zu, \"numeric\": %d, \"categorical\": %d, "
      "\"generate_s\": %.3f, \"profile_s\": %.3f, \"compare_s\": %.3f, "
      "\"total_s\": %.3f, \"peak_rss_mb\": %.1f, \"profile_bytes\": %zu, "
      "\"drifted\": %d, \"fields\": [",
      rows, numeric, categorical, generate_s, profile_s, compare_s,
      profile_s + compare_s, PeakRssKb() / 1024.0,
      rp.ByteSizeLong() + cp.ByteSizeLong(), report->drifted_size());
  bool comma = false;
  for (const auto& f : report->fields()) {
    const int j = std::stoi(f.name().substr(1));
    if (j >= peer && j != numeric) continue;
    std::printf(
        "%s{\"name\": \"%s\", \"ks\": %.17g, \"psi\": %.17g, "
        "\"wasserstein\": %.17g, \"js\": %.17g, \"chi2\": %.17g}",
        comma ? ", " : "", f.name().c_str(), f.ks(), f.psi(), f.wasserstein(),
        f.jensenshannon(), f.chi2());
    comma = true;
  }
  std::printf("]}\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: monitor_bench generate|report ROWS FEATURES DIR "
                 "[THREADS]\n";
    return 2;
  }
  const std::string mode = argv[1];
  if (mode == "scale") return Scale(argc, argv);
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
