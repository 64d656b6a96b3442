#include "services/orchestrator/orchestrator_module.h"

#include "absl/flags/flag.h"
#include "common/rpc/channel.h"
#include "common/util/log.h"
#include "mlpipe/v1/events.grpc.pb.h"
#include "services/host/flags.h"
#include "services/orchestrator/deploy_steps.h"
#include "services/orchestrator/eval_steps.h"
#include "services/orchestrator/ingest_steps.h"
#include "services/orchestrator/orchestrator_service.h"
#include "services/orchestrator/prep_steps.h"
#include "services/orchestrator/split_steps.h"
#include "services/orchestrator/train_steps.h"

ABSL_FLAG(int, max_parallel_steps, 4, "Orchestrator: steps running at once.");
ABSL_FLAG(
    bool, enable_test_steps, false,
    "Orchestrator: allow the test-only step types sleep, fail, record, noop.");

namespace mlpipe::orchestrator {

OrchestratorModuleOptions OrchestratorOptionsFromFlags() {
  OrchestratorModuleOptions o;
  o.ingest_address = absl::GetFlag(FLAGS_ingest_address);
  o.prep_address = absl::GetFlag(FLAGS_prep_address);
  o.split_address = absl::GetFlag(FLAGS_split_address);
  o.train_address = absl::GetFlag(FLAGS_train_address);
  o.evaluate_address = absl::GetFlag(FLAGS_evaluate_address);
  o.score_address = absl::GetFlag(FLAGS_score_address);
  o.monitor_address = absl::GetFlag(FLAGS_monitor_address);
  o.engine.max_parallel_steps = absl::GetFlag(FLAGS_max_parallel_steps);
  o.enable_test_steps = absl::GetFlag(FLAGS_enable_test_steps);
  return o;
}

absl::StatusOr<std::unique_ptr<OrchestratorModule>> OrchestratorModule::Open(
    const std::string& data_dir, OrchestratorModuleOptions options) {
  std::unique_ptr<OrchestratorModule> m(new OrchestratorModule());
  m->options_ = std::move(options);
  auto store = storage::OpenRocksStore(data_dir + "/orchestrator",
                                       Orchestrator::StorageOptions());
  if (!store.ok()) return store.status();
  m->store_ = std::move(*store);
  auto log = events::EventLog::Open(m->store_.get(), "orchestrator");
  if (!log.ok()) return log.status();
  m->log_ = std::move(*log);
  OrchestratorModule* raw = m.get();
  RegisterPrepExecutors(&m->executors_,
                        [raw] { return raw->ChannelFor("prep"); });
  RegisterSplitExecutors(&m->executors_,
                         [raw] { return raw->ChannelFor("split"); });
  RegisterTrainExecutors(&m->executors_,
                         [raw] { return raw->ChannelFor("train"); });
  RegisterEvalExecutors(
      &m->executors_, [raw] { return raw->ChannelFor("evaluate"); },
      [raw] { return raw->ChannelFor("orchestrator"); });
  RegisterDeployExecutors(
      &m->executors_, [raw] { return raw->ChannelFor("score"); },
      [raw] { return raw->ChannelFor("monitor"); });
  RegisterIngestExecutors(&m->executors_,
                          [raw] { return raw->IngestChannel(); });
  if (m->options_.enable_test_steps) RegisterTestExecutors(&m->executors_);
  auto orch = Orchestrator::Open(m->options_.engine, m->store_.get(),
                                 m->log_.get(), &m->executors_);
  if (!orch.ok()) return orch.status();
  m->orchestrator_ = std::move(*orch);
  m->service_ = std::make_unique<OrchestratorService>(m->orchestrator_.get());
  return m;
}

OrchestratorModule::~OrchestratorModule() {
  Stop();
  service_.reset();
  orchestrator_.reset();
  log_.reset();
  store_.reset();
}

std::shared_ptr<grpc::Channel> OrchestratorModule::IngestChannel() {
  std::lock_guard lock(mu_);
  return ingest_channel_;
}

absl::Status OrchestratorModule::Start(std::shared_ptr<grpc::Channel> self) {
  {
    std::lock_guard lock(mu_);
    self_ = self;
    if (!options_.prep_address.empty())
      prep_channel_ = rpc::NewChannel(options_.prep_address);
    if (!options_.split_address.empty())
      split_channel_ = rpc::NewChannel(options_.split_address);
    if (!options_.train_address.empty())
      train_channel_ = rpc::NewChannel(options_.train_address);
    if (!options_.evaluate_address.empty())
      evaluate_channel_ = rpc::NewChannel(options_.evaluate_address);
    if (!options_.score_address.empty())
      score_channel_ = rpc::NewChannel(options_.score_address);
    if (!options_.monitor_address.empty())
      monitor_channel_ = rpc::NewChannel(options_.monitor_address);
    ingest_channel_ = options_.ingest_address.empty()
                          ? std::move(self)
                          : rpc::NewChannel(options_.ingest_address);
  }
  if (auto s = orchestrator_->Start(); !s.ok()) return s;
  trigger_thread_ = std::thread([this] { TriggerLoop(); });
  return absl::OkStatus();
}

void OrchestratorModule::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    wake_.notify_all();
  }
  if (trigger_thread_.joinable()) trigger_thread_.join();
  subscribers_.clear();  // Each stops and joins.
  if (orchestrator_) orchestrator_->Stop();
}

bool OrchestratorModule::Pause(absl::Duration d) {
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, absl::ToChronoNanoseconds(d),
                 [this] { return stopping_; });
  return !stopping_;
}

std::shared_ptr<grpc::Channel> OrchestratorModule::ChannelFor(
    const std::string& source) {
  if (source == "ingest") return IngestChannel();
  std::lock_guard lock(mu_);
  if (source == "prep" && prep_channel_) return prep_channel_;
  if (source == "split" && split_channel_) return split_channel_;
  if (source == "train" && train_channel_) return train_channel_;
  if (source == "evaluate" && evaluate_channel_) return evaluate_channel_;
  if (source == "score" && score_channel_) return score_channel_;
  if (source == "monitor" && monitor_channel_) return monitor_channel_;
  return self_;  // Hosted beside the orchestrator.
}

void OrchestratorModule::TriggerLoop() {
  do {
    orchestrator_->Tick(absl::Now());
    for (const auto& source : orchestrator_->EventSources()) {
      if (!subscribers_.contains(source)) {
        subscribers_[source] =
            std::make_unique<events::Subscriber>(events::SubscriberOptions{
                .source = source,
                .channel = [this, source] { return ChannelFor(source); },
                .cursor =
                    [this, source] {
                      return orchestrator_->EventCursor(source);
                    },
                .handle =
                    [this, source](const v1::Event& e) {
                      return orchestrator_->HandleEvent(source, e);
                    },
            });
      }
    }
  } while (Pause(absl::Seconds(1)));
}

}  // namespace mlpipe::orchestrator
