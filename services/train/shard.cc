#include "services/train/shard.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "common/eval/score.h"
#include "common/ml/collective.h"
#include "common/ml/model.h"
#include "common/util/memory.h"
#include "common/util/strings.h"
#include "common/util/subprocess.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/util/delimited_message_util.h"
#include "services/train/trainer_internal.h"

namespace mlpipe::train {
namespace {

// Values (predictions, labels, weights) per ShardRows message.
constexpr size_t kValuesPerReport = 1 << 20;
// The largest report a shard's process may send.
constexpr int kMaxReportBytes = 64 << 20;
// How often a shard's process says it is alive.
constexpr auto kHeartbeat = std::chrono::seconds(5);

// A part's labels, weights and predictions (`width` per row), in reports
// of about kValuesPerReport values.
absl::Status SendRows(bool eval, const ml::TrainingData& data,
                      const std::vector<double>& predictions, int width,
                      const ShardReporter& report) {
  const size_t n = data.rows();
  const size_t per_report = std::max<size_t>(1, kValuesPerReport / (width + 2));
  for (size_t begin = 0; begin < n; begin += per_report) {
    const size_t end = std::min(n, begin + per_report);
    v1::ShardReport r;
    auto* rows = r.mutable_rows();
    rows->set_eval(eval);
    rows->mutable_labels()->Add(data.y.begin() + begin, data.y.begin() + end);
    if (!data.weights.empty()) {
      rows->mutable_weights()->Add(data.weights.begin() + begin,
                                   data.weights.begin() + end);
    }
    rows->mutable_predictions()->Add(predictions.begin() + begin * width,
                                     predictions.begin() + end * width);
    if (auto s = report(r); !s.ok()) return s;
  }
  return absl::OkStatus();
}

int64_t PeakRssBytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

// The fit's options for shard `request`: joined to the collective, rank 0
// reporting progress and checkpoints.
ml::FitOptions ShardFitOptions(const v1::TrainShardRequest& request,
                               const internal::Data& data, int checkpoint_every,
                               const ShardReporter& report) {
  ml::FitOptions o;
  o.task = data.resolved.task;
  o.threads = std::max(1, request.threads());
  const auto& r = request.job().request();
  o.checkpoint_every =
      r.checkpoint_every() > 0 ? r.checkpoint_every() : checkpoint_every;
  o.eval = data.eval.rows() > 0 ? &data.eval : nullptr;
  // Every rank with the same callbacks: the fit measures its loss for
  // progress (an all-reduce) only when asked, and every rank must make the
  // same all-reduces.
  if (request.rank() != 0) {
    o.on_checkpoint = [](const ml::Checkpoint&) { return absl::OkStatus(); };
    o.on_progress = [](const ml::FitProgress&) { return absl::OkStatus(); };
    return o;
  }
  o.on_checkpoint = [&report](const ml::Checkpoint& cp) {
    v1::ShardReport r;
    r.mutable_checkpoint()->set_iteration(cp.iteration);
    r.mutable_checkpoint()->set_state(cp.state);
    return report(r);
  };
  o.on_progress = [&report](const ml::FitProgress& p) {
    v1::ShardReport r;
    r.mutable_progress()->set_iteration(p.iteration);
    r.mutable_progress()->set_iterations(p.iterations);
    if (!std::isnan(p.loss)) r.mutable_progress()->set_loss(p.loss);
    return report(r);
  };
  return o;
}

absl::Status CheckShardRequest(const v1::TrainShardRequest& request) {
  if (request.workers() < 1 || request.rank() < 0 ||
      request.rank() >= request.workers()) {
    return absl::InvalidArgumentError(StrCat("rank: ", request.rank(),
                                             " is not a shard of ",
                                             request.workers(), " workers"));
  }
  if (request.tracker_host().empty() || request.tracker_port() <= 0)
    return absl::InvalidArgumentError("tracker_host, tracker_port: required");
  return absl::OkStatus();
}

// Reports from two threads (the work's and the heartbeat's), one at a time;
// a heartbeat every kHeartbeat while it lives.
class Reporter {
 public:
  explicit Reporter(const ShardReporter& report)
      : report_(report), beat_([this] { Beat(); }) {}
  ~Reporter() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    beat_.join();
  }
  absl::Status operator()(const v1::ShardReport& r) {
    std::lock_guard lock(mu_);
    return report_(r);
  }

 private:
  void Beat() {
    v1::ShardReport r;
    r.set_heartbeat(true);
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, kHeartbeat, [this] { return done_; })) {
      if (!report_(r).ok()) return;
    }
  }
  const ShardReporter& report_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;  // GUARDED_BY(mu_)
  std::thread beat_;
};

absl::Status FitShard(TrainSources& sources,
                      const v1::TrainShardRequest& request, int64_t frame_rows,
                      int checkpoint_every, const ShardReporter& report) {
  if (auto s = CheckShardRequest(request); !s.ok()) return s;
  const v1::Trial& trial = request.trial();
  auto data = internal::LoadData(sources, request.job(),
                                 {.frame_rows = frame_rows,
                                  .shards = request.workers(),
                                  .shard = request.rank()});
  if (!data.ok()) return data.status();
  const ml::Collective collective{request.tracker_host(),
                                  request.tracker_port(), request.workers(),
                                  StrCat(trial.id(), "/", request.rank())};
  ml::FitOptions o = ShardFitOptions(request, **data, checkpoint_every, report);
  o.collective = &collective;
  std::vector<double> train_predictions;
  o.train_predictions = &train_predictions;
  std::optional<ml::Checkpoint> resume;
  if (request.resume().iteration() > 0) {
    resume =
        ml::Checkpoint{request.resume().iteration(), request.resume().state()};
    o.resume = &*resume;
  }
  int candidate = 0;
  const auto& r = request.job().request();
  for (int i = 0; i < r.candidates_size(); ++i) {
    if (r.candidates(i).name() == trial.candidate()) candidate = i;
  }
  const auto started = Clock::now();
  // The fit frees and allocates the same buffers every round: kept for the
  // next (as a trial here does, trial.cc).
  std::optional<util::HoldFreedMemory> hold(std::in_place);
  auto model =
      ml::Fit(trial.algorithm(), trial.params(),
              StrCat("candidates[", candidate, "].params"), (*data)->train, o);
  const double fit_seconds = Seconds(started);
  hold.reset();
  if (!model.ok()) {
    if (absl::IsUnavailable(model.status()))  // A peer lost, not this one.
      return absl::AbortedError(model.status().message());
    return model.status();
  }
  const int width = (*model)->OutputWidth();
  const int threads = o.threads;
  if (train_predictions.empty()) {
    auto p = eval::Predict(**model, (*data)->train, threads);
    if (!p.ok()) return p.status();
    train_predictions = std::move(p->scores);
  }
  if (auto s =
          SendRows(false, (*data)->train, train_predictions, width, report);
      !s.ok())
    return s;
  if ((*data)->eval.rows() > 0) {
    auto p = eval::Predict(**model, (*data)->eval, threads);
    if (!p.ok()) return p.status();
    if (auto s = SendRows(true, (*data)->eval, p->scores, width, report);
        !s.ok())
      return s;
  }
  v1::ShardReport done;
  auto* d = done.mutable_done();
  if (request.rank() == 0) *d->mutable_learned() = (*model)->Parameters();
  d->set_train_rows(static_cast<int64_t>((*data)->train.rows()));
  d->set_eval_rows(static_cast<int64_t>((*data)->eval.rows()));
  d->set_read_seconds((*data)->read_seconds);
  d->set_fit_seconds(fit_seconds);
  d->set_peak_rss_bytes(PeakRssBytes());
  return report(done);
}

}  // namespace

absl::Status RunShard(TrainSources& sources,
                      const v1::TrainShardRequest& request, int64_t frame_rows,
                      int checkpoint_every, const ShardReporter& report) {
  Reporter reporter(report);
  const ShardReporter locked = [&reporter](const v1::ShardReport& r) {
    return reporter(r);
  };
  return FitShard(sources, request, frame_rows, checkpoint_every, locked);
}

namespace {

// Whether process `pid` (a child) ends within `limit`; not reaped.
bool ExitsWithin(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    siginfo_t info{};
    if (waitid(P_PID, pid, &info, WEXITED | WNOWAIT | WNOHANG) == 0 &&
        info.si_pid == pid)
      return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// How the child ended, when it reported no failure of its own.
absl::Status Ended(pid_t pid, int wstatus, bool done) {
  if (WIFSIGNALED(wstatus)) {
    return absl::UnavailableError(StrCat("its shard process (pid ", pid,
                                         ") was killed by signal ",
                                         WTERMSIG(wstatus)));
  }
  const int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  if (code == 127) {
    return absl::FailedPreconditionError(
        "cannot run the shard binary (mlpipe-train-shard) beside this "
        "replica's");
  }
  if (code != 0 || !done) {
    return absl::InternalError(StrCat("its shard process (pid ", pid,
                                      ") ended with exit code ", code,
                                      " before it finished"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunShardProcess(const std::vector<std::string>& argv,
                             const v1::TrainShardRequest& request,
                             const ShardReporter& on_report,
                             const std::function<bool()>& cancelled) {
  signal(SIGPIPE, SIG_IGN);  // A child gone makes write fail, not kill us.
  // Dies with this thread, which waits for it.
  auto child = util::SpawnChild(argv, true, true);
  if (!child.ok()) return child.status();
  {
    google::protobuf::io::FileOutputStream in(child->stdin_fd);
    (void)google::protobuf::util::SerializeDelimitedToZeroCopyStream(request,
                                                                     &in);
    (void)in.Flush();
  }
  close(child->stdin_fd);
  // Kills the child once cancelled or once a report cannot be passed on.
  std::atomic<bool> stop{false}, ended{false}, was_cancelled{false};
  std::thread watch([&] {
    while (!ended.load()) {
      if (stop.load() || cancelled()) {
        was_cancelled = !stop.load();
        kill(child->pid, SIGKILL);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  absl::Status failure, relay;
  bool done = false, garbled = false;
  {
    google::protobuf::io::FileInputStream out(child->stdout_fd);
    for (;;) {
      v1::ShardReport r;
      bool clean_eof = false;
      google::protobuf::io::CodedInputStream coded(&out);
      coded.SetTotalBytesLimit(kMaxReportBytes);
      if (!google::protobuf::util::ParseDelimitedFromCodedStream(&r, &coded,
                                                                 &clean_eof)) {
        garbled = !clean_eof;
        break;
      }
      if (r.has_failure()) {
        failure =
            absl::Status(static_cast<absl::StatusCode>(r.failure().code()),
                         r.failure().message());
        continue;
      }
      done |= r.has_done();
      if (relay.ok()) relay = on_report(r);
      if (!relay.ok()) stop = true;
    }
  }
  close(child->stdout_fd);
  // A report cut short is explained when the process was killed meanwhile
  // (a second to see); one that still runs sent garbage, and is killed.
  bool unexplained = false;
  if (garbled && relay.ok()) {
    unexplained = !ExitsWithin(child->pid, std::chrono::seconds(1));
    if (unexplained) stop = true;
  }
  // Ended, not yet reaped: the watch cannot kill another process that
  // took its pid.
  siginfo_t info{};
  waitid(P_PID, child->pid, &info, WEXITED | WNOWAIT);
  ended = true;
  watch.join();
  int wstatus = 0;
  waitpid(child->pid, &wstatus, 0);
  if (was_cancelled) return absl::CancelledError("shard cancelled");
  if (!relay.ok()) return relay;
  if (!failure.ok()) return failure;
  if (unexplained ||
      (garbled && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)) {
    return absl::DataLossError(
        StrCat("its shard process sent an unreadable report (over ",
               kMaxReportBytes >> 20, " MiB, or malformed)"));
  }
  return Ended(child->pid, wstatus, done);
}

}  // namespace mlpipe::train
