// A distributed trial, coordinated (shard.h): XGBoost's tracker here, one
// TrainShard call per rank on the replicas, rank 0's progress and
// checkpoints, every shard's predictions scored into the trial's metrics. A
// lost worker fails the attempt naming it; the trial is attempted again from
// its last checkpoint.
#include <netdb.h>
#include <unistd.h>

#include <thread>

#include "common/eval/score.h"
#include "common/ml/collective.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "services/train/trainer_internal.h"

namespace mlpipe::train {
namespace {

using internal::Data;
using internal::Outcome;

// After one shard fails, how long the others get to end by themselves (a
// lost peer fails their all-reduce at once) before they are cancelled.
constexpr auto kGrace = std::chrono::seconds(3);

// This host's address as its name resolves (as a pod's hostname does to
// its IP); "127.0.0.1" when it does not.
std::string HostAddress() {
  char name[256] = {0};
  gethostname(name, sizeof(name) - 1);
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  std::string out = "127.0.0.1";
  if (getaddrinfo(name, nullptr, &hints, &res) == 0 && res != nullptr) {
    char ip[64];
    if (getnameinfo(res->ai_addr, res->ai_addrlen, ip, sizeof(ip), nullptr, 0,
                    NI_NUMERICHOST) == 0)
      out = ip;
    freeaddrinfo(res);
  }
  return out;
}

// What one shard of an attempt sent, and how its call ended.
struct Shard {
  std::string worker;  // "<worker id> rank <k>", or the replica's address.
  absl::Status status;
  Clock::time_point ended;
  Clock::time_point last_report;  // Of any kind (heartbeats included).
  bool running = true;
  // Why this attempt stopped it: silent too long, or not ending after a
  // peer failed (either way presumed lost).
  std::string stopped_because;
  bool silent = false;  // Stopped for its silence (named before others).
  bool has_done = false;
  v1::ShardDone done;
  struct Part {
    std::vector<double> predictions, labels, weights;
  } train, eval;
};

// Appends `from` to `to`, freeing `from`.
void MoveInto(std::vector<double>& to, std::vector<double>& from) {
  if (to.empty()) {
    to = std::move(from);
  } else {
    to.insert(to.end(), from.begin(), from.end());
  }
  from = {};
}

// A part's predictions over every shard, scored (eval::Scalars); the
// shards' copies are freed as they are taken.
absl::StatusOr<std::vector<v1::MetricValue>> ScoreShards(
    std::vector<Shard>& shards, bool eval_part, const Data& data) {
  eval::Predictions p;
  p.task = data.resolved.task;
  p.classes = data.resolved.classes;
  std::vector<double> weights;
  for (auto& s : shards) {
    Shard::Part& part = eval_part ? s.eval : s.train;
    MoveInto(p.y, part.labels);
    MoveInto(p.scores, part.predictions);
    MoveInto(weights, part.weights);
  }
  if (p.y.empty() || p.scores.size() % p.y.size() != 0 ||
      (!weights.empty() && weights.size() != p.y.size())) {
    return absl::DataLossError(StrCat("shards sent ", p.scores.size(),
                                      " predictions and ", weights.size(),
                                      " weights for ", p.y.size(), " rows"));
  }
  p.width = static_cast<int>(p.scores.size() / p.y.size());
  if (auto s = eval::Check(p); !s.ok()) return s;
  return eval::Scalars(p, eval::Options(), nullptr,
                       weights.empty() ? nullptr : &weights);
}

// One attempt of a distributed trial: every rank's call at once.
class ShardAttempt {
 public:
  ShardAttempt(TrialRunner& runner, storage::Store& store, Outcome& out,
               int workers, Clock::duration silence,
               const std::function<bool()>& cancelled,
               const std::function<void(const v1::Trial&)>& on_progress)
      : runner_(runner),
        store_(store),
        out_(out),
        shards_(workers),
        silence_(silence),
        cancelled_(cancelled),
        on_progress_(on_progress) {
    for (auto& s : shards_) s.last_report = Clock::now();
  }

  // OK once every shard is done; else the failure that caused the others'.
  absl::Status Run(const v1::TrainShardRequest& base,
                   const std::string& tracker_host) {
    const int n = static_cast<int>(shards_.size());
    auto tracker = ml::Tracker::Start(n, tracker_host);
    if (!tracker.ok()) return tracker.status();
    const ml::Collective c = (*tracker)->For("");
    std::vector<std::thread> calls;
    for (int k = 0; k < n; ++k) {
      v1::TrainShardRequest req = base;
      req.set_tracker_host(c.tracker_host);
      req.set_tracker_port(c.tracker_port);
      req.set_workers(n);
      req.set_rank(k);
      calls.emplace_back([this, k, req = std::move(req)] { Call(k, req); });
    }
    for (auto& t : calls) t.join();
    return Cause();
  }

  // The outcome of a successful attempt: rank 0's model, the shards' rows
  // scored.
  absl::Status Finish(const Data& data) {
    Outcome& o = out_;
    o.trial.clear_shard_workers();
    o.trial.clear_shard_peak_rss_bytes();
    for (const auto& s : shards_) {
      o.trial.add_shard_workers(s.worker);
      o.trial.add_shard_peak_rss_bytes(s.done.peak_rss_bytes());
      o.fit_seconds = std::max(o.fit_seconds, s.done.fit_seconds());
      o.read_seconds = std::max(o.read_seconds, s.done.read_seconds());
      o.train_rows += s.done.train_rows();
      o.eval_rows += s.done.eval_rows();
    }
    if (!shards_[0].done.has_learned())
      return absl::DataLossError("rank 0 sent no model");
    o.learned = shards_[0].done.learned();
    auto train = ScoreShards(shards_, false, data);
    if (!train.ok()) return train.status();
    o.train_metrics = *std::move(train);
    if (o.eval_rows > 0) {
      auto eval = ScoreShards(shards_, true, data);
      if (!eval.ok()) return eval.status();
      o.eval_metrics = *std::move(eval);
    }
    const auto& scored = o.eval_rows > 0 ? o.eval_metrics : o.train_metrics;
    o.trial.set_score(eval::Find(scored, data.resolved.metric));
    o.trial.mutable_metrics()->Assign(scored.begin(), scored.end());
    return absl::OkStatus();
  }

 private:
  void Call(int k, const v1::TrainShardRequest& req) {
    std::string address;
    absl::Status s = runner_.RunShard(
        req, [this, k](const v1::ShardReport& r) { OnReport(k, r); },
        [this] { return Stop(); }, &address);
    std::lock_guard lock(mu_);
    Shard& shard = shards_[k];
    if (shard.worker.empty()) {
      shard.worker = StrCat(address.empty() ? "(no replica answered)" : address,
                            " rank ", k);
    }
    if (s.ok() && !shard.has_done)
      s = absl::InternalError("the shard ended without its model");
    shard.status = s;
    shard.running = false;
    shard.ended = Clock::now();
    if (!s.ok() && !failed_) {
      failed_ = true;
      first_failure_ = shard.ended;
    }
  }

  // True once the job is cancelled, a shard has failed and the others had
  // kGrace to end, or a running shard has been silent for silence_ (its
  // replica gone without a word): the attempt stops.
  bool Stop() {
    if (cancelled_()) return true;
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    if (failed_ && now - first_failure_ > kGrace) {
      for (auto& s : shards_) {
        if (s.running && s.stopped_because.empty()) {
          s.stopped_because = StrCat(
              "did not end within ",
              std::chrono::duration_cast<std::chrono::seconds>(kGrace).count(),
              " s of a peer's failure");
        }
      }
      return true;
    }
    for (auto& s : shards_) {
      if (s.running && now - s.last_report > silence_) {
        s.silent = true;
        if (s.stopped_because.empty()) {
          s.stopped_because =
              StrCat("sent nothing for ",
                     std::chrono::duration_cast<std::chrono::seconds>(silence_)
                         .count(),
                     " s");
        }
        if (!failed_) {
          failed_ = true;
          first_failure_ = now;
        }
        return true;
      }
    }
    return false;
  }

  void OnReport(int k, const v1::ShardReport& r) {
    std::lock_guard lock(mu_);
    Shard& shard = shards_[k];
    shard.last_report = Clock::now();
    switch (r.report_case()) {
      case v1::ShardReport::kStarted:
        shard.worker = StrCat(r.started(), " rank ", k);
        break;
      case v1::ShardReport::kProgress:
        out_.trial.set_iteration(r.progress().iteration());
        out_.trial.set_iterations(r.progress().iterations());
        out_.trial.set_loss(r.progress().loss());
        if (on_progress_) on_progress_(out_.trial);
        break;
      case v1::ShardReport::kCheckpoint:
        (void)store_.Put(kCheckpoints, out_.trial.id(),
                         r.checkpoint().SerializeAsString());
        break;
      case v1::ShardReport::kRows: {
        Shard::Part& part = r.rows().eval() ? shard.eval : shard.train;
        const auto& rows = r.rows();
        part.predictions.insert(part.predictions.end(),
                                rows.predictions().begin(),
                                rows.predictions().end());
        part.labels.insert(part.labels.end(), rows.labels().begin(),
                           rows.labels().end());
        part.weights.insert(part.weights.end(), rows.weights().begin(),
                            rows.weights().end());
        break;
      }
      case v1::ShardReport::kDone:
        shard.done = r.done();
        shard.has_done = true;
        break;
      default:
        break;
    }
  }

  // Why the attempt failed, in this order: the first shard that failed by
  // itself (not a lost peer's echo, ABORTED, nor stopped here); else one
  // this attempt stopped as presumed lost; else the first echo.
  absl::Status Cause() {
    std::lock_guard lock(mu_);
    const size_t n = shards_.size();
    auto first = [&](const std::function<bool(const Shard&)>& which) {
      const Shard* found = nullptr;
      for (const auto& s : shards_) {
        if (!s.status.ok() && which(s) &&
            (found == nullptr || s.ended < found->ended))
          found = &s;
      }
      return found;
    };
    if (const Shard* s = first([](const Shard& s) {
          return s.stopped_because.empty() && !absl::IsAborted(s.status) &&
                 !absl::IsCancelled(s.status);
        })) {
      const bool lost = absl::IsUnavailable(s->status);
      return absl::Status(
          s->status.code(),
          StrCat("worker ", s->worker, " of ", n,
                 lost ? " was lost: " : " failed: ", s->status.message()));
    }
    const Shard* stopped = first([](const Shard& s) { return s.silent; });
    if (stopped == nullptr)
      stopped =
          first([](const Shard& s) { return !s.stopped_because.empty(); });
    if (const Shard* s = stopped) {
      return absl::UnavailableError(StrCat("worker ", s->worker, " of ", n, " ",
                                           s->stopped_because,
                                           "; presumed lost"));
    }
    if (const Shard* s =
            first([](const Shard& s) { return absl::IsAborted(s.status); })) {
      return absl::Status(
          s->status.code(),
          StrCat("worker ", s->worker, " of ", n, ": ", s->status.message()));
    }
    for (const auto& s : shards_)
      if (!s.status.ok()) return s.status;
    return absl::OkStatus();
  }

  TrialRunner& runner_;
  storage::Store& store_;
  std::mutex mu_;
  Outcome& out_;               // GUARDED_BY(mu_) while the calls run.
  std::vector<Shard> shards_;  // GUARDED_BY(mu_)
  bool failed_ = false;        // GUARDED_BY(mu_)
  Clock::time_point first_failure_;
  const Clock::duration silence_;
  const std::function<bool()>& cancelled_;
  const std::function<void(const v1::Trial&)>& on_progress_;
};

// Early stopping scores the eval rows every round, an all-reduce every rank
// must join: every shard needs eval rows (with this many a shard, one
// with none has odds below e^-50).
absl::Status CheckShardedEval(const Data& data, const v1::TrainingJob& job,
                              const v1::Trial& trial, int workers) {
  constexpr int64_t kEvalRowsPerShard = 50;
  auto it = trial.params().fields().find("early_stopping_rounds");
  if (it == trial.params().fields().end() || it->second.number_value() <= 0)
    return absl::OkStatus();
  int64_t eval_rows = 0;
  const std::string eval_part = Or(job.request().eval_part(), "eval");
  for (const auto& p : data.split.parts())
    if (p.name() == eval_part) eval_rows = p.rows();
  if (eval_rows > 0 && eval_rows < kEvalRowsPerShard * workers) {
    return absl::FailedPreconditionError(StrCat(
        "candidate ", trial.candidate(), ": early stopping over ", workers,
        " workers needs at least ", kEvalRowsPerShard * workers, " eval rows (",
        kEvalRowsPerShard, " a shard); the eval part has ", eval_rows));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Outcome> Trainer::RunDistributed(
    const Data& data, const v1::TrainingJob& job, const v1::Trial& trial,
    int threads, const std::function<bool()>& cancelled,
    const std::function<void(const v1::Trial&)>& on_progress) {
  int workers = 0;
  for (const auto& c : job.request().candidates())
    if (c.name() == trial.candidate()) workers = c.distributed().workers();
  const std::string tracker_host =
      options_.tracker_host.empty() ? HostAddress() : options_.tracker_host;
  v1::TrainShardRequest base;
  *base.mutable_job() = job;
  base.mutable_job()->clear_trials();  // Each shard needs only its own.
  auto* r = base.mutable_job()->mutable_request();
  if (r->checkpoint_every() <= 0)  // Every shard as this service says.
    r->set_checkpoint_every(options_.checkpoint_every);
  *base.mutable_trial() = trial;
  base.set_threads(threads);
  if (auto s = CheckShardedEval(data, job, trial, workers); !s.ok()) return s;
  Outcome out;
  out.trial = trial;
  out.trial.set_worker(StrCat(workers, " workers"));
  for (int attempt = 1;; ++attempt) {
    base.clear_resume();
    if (auto bytes = store_->Get(kCheckpoints, trial.id()); bytes.ok()) {
      if (base.mutable_resume()->ParseFromString(*bytes) &&
          base.resume().iteration() > 0) {
        out.trial.set_resumed_from(base.resume().iteration());
        Metrics::Get().resumed.Increment();
      }
    }
    Outcome tried = out;
    ShardAttempt shards(
        *options_.replicas, *store_, tried, workers,
        std::chrono::seconds(std::max(1, options_.shard_silence_seconds)),
        cancelled, on_progress);
    absl::Status s = shards.Run(base, tracker_host);
    if (s.ok()) s = shards.Finish(data);
    auto count = [](const char* outcome) {
      Metrics::Get().shard_attempts.Add({{"outcome", outcome}}).Increment();
    };
    if (s.ok()) {
      count("succeeded");
      (void)store_->Put(kCheckpoints, trial.id(), "");  // Done: no resume.
      return tried;
    }
    if (cancelled()) {
      count("cancelled");
      return absl::CancelledError("training job cancelled");
    }
    if (absl::IsCancelled(s)) {  // A replica's call cancelled (its drain).
      s =
          absl::UnavailableError(StrCat("a shard's call was cancelled by its "
                                        "replica: ",
                                        s.message()));
    }
    if (absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s)) {
      count("failed");
      return s;
    }
    count(absl::IsUnavailable(s) ? "worker_lost" : "failed");
    out.trial.add_retried_after(StrCat("attempt ", attempt, ": ", s.message()));
    LogWarning("distributed trial attempt failed",
               {{"trial", trial.id()},
                {"attempt", std::to_string(attempt)},
                {"error", std::string(s.message())}});
    if (attempt >= std::max(1, options_.shard_attempts)) {
      return absl::Status(s.code(),
                          StrCat("distributed fit failed ", attempt,
                                 " time(s); the last: ", s.message()));
    }
  }
}

}  // namespace mlpipe::train
