#include "services/train/train_module.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/flags/flag.h"
#include "clients/peer_reads.h"
#include "common/rpc/channel.h"
#include "common/rpc/status.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/train_service.grpc.pb.h"
#include "services/host/flags.h"
#include "services/modules.h"
#include "services/train/training_service.h"

ABSL_FLAG(
    std::string, train_replicas, "",
    "Train replicas that run trials, round robin: "
    "\"ipv4:10.0.0.1:7000,10.0.0.2:7000\" "
    "or \"dns:///train-headless:7000\"; empty: trials run in this process.");
ABSL_FLAG(int, train_parallel_trials, 2, "Trials of one job trained at once.");
ABSL_FLAG(int, train_threads_per_candidate, 1,
          "Threads per trial when the request does not say.");
ABSL_FLAG(
    int, train_checkpoint_every, 10,
    "Rounds / iterations between checkpoints when the request does not say.");
ABSL_FLAG(int, train_parallel_jobs, 1, "Training jobs run at once.");
ABSL_FLAG(std::string, train_tracker_host, "",
          "Address of this host the shards of a distributed trial reach "
          "XGBoost's tracker at (in Kubernetes the pod IP); empty: this "
          "host's name's address.");
ABSL_FLAG(int, train_shard_attempts, 3,
          "Attempts of a distributed trial that loses a worker, each from "
          "its last checkpoint.");
ABSL_FLAG(int, train_shard_silence_seconds, 60,
          "A shard of a distributed trial silent this long (no report, not "
          "even its heartbeat every 5 s) is presumed lost.");
ABSL_FLAG(std::string, train_shard_binary, "",
          "The binary a replica runs a distributed trial's shard with; "
          "empty: mlpipe-train-shard beside this one.");

namespace mlpipe::train {
namespace {

// TrainSources through the peers: splits from the split service, feature
// sets and transforms from prep.
using PeerSources = clients::PeerReads<TrainSources>;

// Trials on train replicas: one TrainTrial call each, spread round robin by
// the channel; the call is cancelled when the job is.
class RemoteTrials final : public TrialRunner {
 public:
  explicit RemoteTrials(const std::string& target)
      : stub_(v1::Training::NewStub(rpc::NewChannel(target))),
        shards_(v1::Training::NewStub(
            rpc::NewChannel(target, {.retry_unavailable = false}))) {}

  absl::Status RunShard(
      const v1::TrainShardRequest& request,
      const std::function<void(const v1::ShardReport&)>& on_report,
      const std::function<bool()>& cancelled, std::string* worker) override {
    grpc::ClientContext call;
    std::atomic<bool> ended{false};
    std::thread watch([&] {
      while (!ended.load()) {
        if (cancelled()) {
          call.TryCancel();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
    auto reader = shards_->TrainShard(&call, request);
    v1::ShardReport report;
    while (reader->Read(&report)) on_report(report);
    grpc::Status status = reader->Finish();
    ended = true;
    watch.join();
    *worker = call.peer();
    return rpc::FromGrpcStatus(status);
  }

  absl::StatusOr<v1::TrainTrialResponse> Run(
      const v1::TrainTrialRequest& request,
      const std::function<bool()>& cancelled) override {
    grpc::ClientContext call;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    v1::TrainTrialResponse resp;
    stub_->async()->TrainTrial(&call, &request, &resp, [&](grpc::Status s) {
      std::lock_guard lock(mu);
      status = std::move(s);
      done = true;
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    while (!cv.wait_for(lock, std::chrono::milliseconds(200),
                        [&] { return done; })) {
      if (cancelled()) call.TryCancel();
    }
    if (!status.ok()) return rpc::FromGrpcStatus(status);
    return resp;
  }

 private:
  std::unique_ptr<v1::Training::Stub> stub_;
  // Shards are never retried: the collective cannot take one again.
  std::unique_ptr<v1::Training::Stub> shards_;
};

// How this replica runs a shard: the binary, the peers it reads rows from
// and this process's credentials; empty when split or prep is hosted here
// (a child process cannot reach them).
std::vector<std::string> ShardCommand(const std::string& binary,
                                      const rpc::Peers& peers) {
  const std::string split = peers.Address("split"),
                    prep = peers.Address("prep");
  if (split.empty() || prep.empty()) return {};
  std::string path = binary;
  if (path.empty()) {
    char self[4096] = {0};
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    std::string dir(self, n > 0 ? n : 0);
    dir = dir.substr(0, dir.rfind('/') + 1);
    path = dir + "mlpipe-train-shard";
  }
  std::vector<std::string> argv = {path, "--split_address=" + split,
                                   "--prep_address=" + prep};
  for (auto& f : host::ClientCredentialFlags()) argv.push_back(std::move(f));
  return argv;
}

TrainModuleOptions TrainOptionsFromFlags() {
  TrainModuleOptions o;
  o.replicas = absl::GetFlag(FLAGS_train_replicas);
  o.parallel_jobs = absl::GetFlag(FLAGS_train_parallel_jobs);
  o.trainer.parallel_trials = absl::GetFlag(FLAGS_train_parallel_trials);
  o.trainer.threads_per_candidate =
      absl::GetFlag(FLAGS_train_threads_per_candidate);
  o.trainer.checkpoint_every = absl::GetFlag(FLAGS_train_checkpoint_every);
  o.trainer.tracker_host = absl::GetFlag(FLAGS_train_tracker_host);
  o.trainer.shard_attempts = absl::GetFlag(FLAGS_train_shard_attempts);
  o.trainer.shard_silence_seconds =
      absl::GetFlag(FLAGS_train_shard_silence_seconds);
  o.shard_binary = absl::GetFlag(FLAGS_train_shard_binary);
  return o;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TrainModule>> TrainModule::Open(
    const host::ModuleEnv& env, TrainModuleOptions options) {
  std::unique_ptr<TrainModule> m(new TrainModule(env));
  if (auto s = m->OpenStore(Trainer::StorageOptions()); !s.ok()) return s;
  auto* sources = m->Make<PeerSources>(m->peers());
  TrainerOptions trainer = options.trainer;
  if (!options.replicas.empty())
    trainer.replicas = m->Make<RemoteTrials>(options.replicas);
  if (trainer.shard_command.empty())
    trainer.shard_command = ShardCommand(options.shard_binary, m->peers());
  auto* t = m->Make<Trainer>(trainer, m->store(), m->outbox(), sources);
  m->EnableOperations({.workers = std::max(1, options.parallel_jobs)});
  m->RegisterOperation<v1::StartTrainingRequest, v1::TrainingResult>(
      "train",
      [t](const v1::StartTrainingRequest& request, ops::Progress& progress) {
        return t->Run(request, progress);
      });
  m->AddService(std::make_unique<TrainingService>(t, m->ops()),
                v1::Training::service_full_name());
  return m;
}

const host::ModuleDef& TrainModuleDef() {
  static const auto* def = new host::ModuleDef{
      "train",
      [](const host::ModuleEnv& env)
          -> absl::StatusOr<std::unique_ptr<host::ServiceModule>> {
        return TrainModule::Open(env, TrainOptionsFromFlags());
      }};
  return *def;
}

}  // namespace mlpipe::train
