#include "services/orchestrator/orchestrator_module.h"

#include "absl/flags/flag.h"
#include "clients/ingest_client.h"
#include "services/modules.h"
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
  o.engine.max_parallel_steps = absl::GetFlag(FLAGS_max_parallel_steps);
  o.enable_test_steps = absl::GetFlag(FLAGS_enable_test_steps);
  return o;
}

absl::StatusOr<std::unique_ptr<OrchestratorModule>> OrchestratorModule::Open(
    const host::ModuleEnv& env, OrchestratorModuleOptions options) {
  std::unique_ptr<OrchestratorModule> m(new OrchestratorModule(env));
  if (auto s = m->OpenStore(Orchestrator::StorageOptions()); !s.ok()) return s;
  const rpc::Peers* peers = &m->peers();
  auto peer = [peers](const char* service) -> ChannelProvider {
    return [peers, service] { return peers->Channel(service); };
  };
  auto* executors = m->Make<ExecutorRegistry>();
  RegisterIngestExecutors(executors, peer("ingest"));
  RegisterPrepExecutors(executors, peer("prep"));
  RegisterSplitExecutors(executors, peer("split"));
  RegisterTrainExecutors(executors, peer("train"));
  RegisterEvalExecutors(executors, peer("evaluate"), peer("orchestrator"));
  RegisterDeployExecutors(executors, peer("score"), peer("monitor"));
  if (options.enable_test_steps) RegisterTestExecutors(executors);
  options.engine.dataset_columns = [peers](const std::string& dataset)
      -> absl::StatusOr<std::vector<std::string>> {
    auto v = ingest::GetDatasetVersion(peers->Channel("ingest"), dataset, 0);
    if (!v.ok()) return v.status();
    std::vector<std::string> columns;
    for (const auto& f : v->dataset.dataset().schema().fields())
      columns.push_back(f.name());
    return columns;
  };
  options.engine.column_values = [peers](const std::string& dataset,
                                         const std::string& column) {
    return ingest::DistinctValues(peers->Channel("ingest"), dataset, column,
                                  /*limit=*/1000);
  };
  auto orch =
      Orchestrator::Open(options.engine, m->store(), m->outbox(), executors);
  if (!orch.ok()) return orch.status();
  m->orchestrator_ = m->Own(std::move(*orch));
  m->AddService(std::make_unique<OrchestratorService>(
                    m->orchestrator_, peer("score"), peer("train")),
                v1::Orchestrator::service_full_name());
  OrchestratorModule* raw = m.get();
  m->AddLoop([raw](util::BackgroundLoop& loop) { raw->TriggerLoop(loop); });
  return m;
}

OrchestratorModule::~OrchestratorModule() { Stop(); }

absl::Status OrchestratorModule::OnStart() { return orchestrator_->Start(); }

void OrchestratorModule::OnStop() {
  subscribers_.clear();  // Each stops and joins.
  orchestrator_->Stop();
}

void OrchestratorModule::TriggerLoop(util::BackgroundLoop& loop) {
  do {
    orchestrator_->Tick(absl::Now());
    for (const auto& source : orchestrator_->EventSources()) {
      if (subscribers_.contains(source)) continue;
      subscribers_[source] =
          std::make_unique<events::Subscriber>(events::SubscriberOptions{
              .source = source,
              .channel = [this, source] { return Peer(source); },
              .cursor = [this,
                         source] { return orchestrator_->EventCursor(source); },
              .handle =
                  [this, source](const v1::Event& e) {
                    return orchestrator_->HandleEvent(source, e);
                  },
          });
    }
  } while (loop.Wait(std::chrono::seconds(1)));
}

const host::ModuleDef& OrchestratorModuleDef() {
  static const auto* def = new host::ModuleDef{
      "orchestrator",
      [](const host::ModuleEnv& env)
          -> absl::StatusOr<std::unique_ptr<host::ServiceModule>> {
        return OrchestratorModule::Open(env, OrchestratorOptionsFromFlags());
      }};
  return *def;
}

}  // namespace mlpipe::orchestrator
