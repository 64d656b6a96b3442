#include "services/orchestrator/orchestrator_module.h"

#include "absl/flags/flag.h"
#include "common/rpc/channel.h"
#include "services/orchestrator/ingest_steps.h"
#include "services/orchestrator/orchestrator_service.h"

ABSL_FLAG(
    std::string, ingest_address, "",
    "Orchestrator: the ingestion service (host:port); empty: this process.");
ABSL_FLAG(int, max_parallel_steps, 4, "Orchestrator: steps running at once.");
ABSL_FLAG(
    bool, enable_test_steps, false,
    "Orchestrator: allow the test-only step types sleep, fail, record, noop.");

namespace mlpipe::orchestrator {

OrchestratorModuleOptions OrchestratorOptionsFromFlags() {
  OrchestratorModuleOptions o;
  o.ingest_address = absl::GetFlag(FLAGS_ingest_address);
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
  if (orchestrator_) orchestrator_->Stop();
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
    ingest_channel_ = options_.ingest_address.empty()
                          ? std::move(self)
                          : rpc::NewChannel(options_.ingest_address);
  }
  return orchestrator_->Start();
}

void OrchestratorModule::Stop() { orchestrator_->Stop(); }

}  // namespace mlpipe::orchestrator
