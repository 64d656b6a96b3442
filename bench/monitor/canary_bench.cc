// bench/monitor/canary.sh's harness: one canary check over ROWS logged
// predictions with their actuals, half the canary's and half the
// primary's (binormal scores, AUC 0.80 both; log-normal latencies; rare
// errors; fixed seed).
//
//   canary_bench ROWS DIR
//     generates the records (not timed) and writes each arm's scores and
//     labels to DIR/{canary,primary}.f64 (score, label pairs) for the peer;
//     then times what a check does: each record into its arm's evidence
//     (services/monitor/canary.h), then the analysis (AUC with DeLong's
//     variance, latency, errors, the confidence sequences, the decision).
//     Prints JSON: seconds, AUCs, the decision.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "services/monitor/canary.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace canary = mlpipe::monitor::canary;

struct Record {
  double score, latency;
  bool positive, error;
};

std::vector<Record> Generate(size_t rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  const double mu = std::sqrt(2.0) * 0.8416;  // AUC 0.80.
  std::vector<Record> out(rows);
  for (auto& r : out) {
    r.positive = u(rng) < 0.3;
    const double s = g(rng) + (r.positive ? mu : 0);
    r.score = 1 / (1 + std::exp(-(s - mu / 2)));
    r.latency = 0.005 * std::exp(0.3 * g(rng));
    r.error = u(rng) < 0.0005;
  }
  return out;
}

void Write(const std::string& path, const std::vector<Record>& records) {
  std::vector<double> v;
  v.reserve(records.size() * 2);
  for (const auto& r : records) {
    v.push_back(r.score);
    v.push_back(r.positive ? 1 : 0);
  }
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(v.data()), v.size() * 8);
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: canary_bench ROWS DIR\n");
    return 2;
  }
  const size_t rows = std::stoull(argv[1]);
  const std::string dir = argv[2];
  const auto canary_records = Generate(rows / 2, 1);
  const auto primary_records = Generate(rows - rows / 2, 2);
  Write(dir + "/canary.f64", canary_records);
  Write(dir + "/primary.f64", primary_records);

  const auto t0 = Clock::now();
  canary::ArmEvidence arms[2] = {
      canary::ArmEvidence(mlpipe::v1::BINARY, {"0", "1"}),
      canary::ArmEvidence(mlpipe::v1::BINARY, {"0", "1"})};
  google::protobuf::Value actual[2];
  actual[0].set_string_value("0");
  actual[1].set_string_value("1");
  const std::vector<Record>* records[2] = {&primary_records, &canary_records};
  for (int a = 0; a < 2; ++a) {
    for (const auto& r : *records[a]) {
      arms[a].AddRequest(r.latency, r.error);
      if (!r.error) {
        (void)arms[a].AddActual({r.score}, r.score >= 0.5 ? "1" : "0",
                                actual[r.positive]);
      }
    }
  }
  const double accumulate_s = Seconds(t0);
  const auto t1 = Clock::now();
  const canary::Analysis analysis =
      canary::Analyze(arms[1], arms[0], canary::AnalysisSpec());
  const double analyze_s = Seconds(t1);
  std::printf(
      "{\"rows\": %zu, \"accumulate_s\": %.6f, \"analyze_s\": %.6f, "
      "\"total_s\": %.6f, \"auc_canary\": %.6f, \"auc_primary\": %.6f, "
      "\"decision\": \"%s\"}\n",
      rows, accumulate_s, analyze_s, accumulate_s + analyze_s,
      arms[1].MetricEstimate(canary::Metric::kAuc).value,
      arms[0].MetricEstimate(canary::Metric::kAuc).value,
      canary::DecisionName(analysis.decision).c_str());
  return 0;
}
