#include "services/train/train_module.h"

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/flags/flag.h"
#include "clients/peer_reads.h"
#include "common/rpc/channel.h"
#include "common/rpc/status.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/train_service.grpc.pb.h"
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
      : stub_(v1::Training::NewStub(rpc::NewChannel(target))) {}

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
};

TrainModuleOptions TrainOptionsFromFlags() {
  TrainModuleOptions o;
  o.replicas = absl::GetFlag(FLAGS_train_replicas);
  o.parallel_jobs = absl::GetFlag(FLAGS_train_parallel_jobs);
  o.trainer.parallel_trials = absl::GetFlag(FLAGS_train_parallel_trials);
  o.trainer.threads_per_candidate =
      absl::GetFlag(FLAGS_train_threads_per_candidate);
  o.trainer.checkpoint_every = absl::GetFlag(FLAGS_train_checkpoint_every);
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
