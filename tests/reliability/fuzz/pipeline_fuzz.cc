// Pipeline YAML as `mlpipe run` and the orchestrator take it: parsed
// (common/config), then checked as a submit checks it (every step type's
// parameters, `when:` conditions, columns and the positive class against a
// credit-like dataset) and, with triggers, registered as schedules (cron
// expressions, time zones) in a store of its own.
#include "common/config/pipeline_config.h"
#include "services/orchestrator/deploy_steps.h"
#include "services/orchestrator/eval_steps.h"
#include "services/orchestrator/ingest_steps.h"
#include "services/orchestrator/orchestrator.h"
#include "services/orchestrator/prep_steps.h"
#include "services/orchestrator/split_steps.h"
#include "services/orchestrator/train_steps.h"
#include "tests/reliability/fuzz/fuzz_target.h"

namespace mlpipe::orchestrator {
namespace {

// The real step types; no service behind them (nothing runs).
const ExecutorRegistry& Executors() {
  static const auto* registry = [] {
    auto* r = new ExecutorRegistry();
    auto none = [] { return std::shared_ptr<grpc::Channel>(); };
    RegisterIngestExecutors(r, none);
    RegisterPrepExecutors(r, none);
    RegisterSplitExecutors(r, none);
    RegisterTrainExecutors(r, none);
    RegisterEvalExecutors(r, none, none);
    RegisterDeployExecutors(r, none, none);
    return r;
  }();
  return *registry;
}

// Datasets as the ingest service would describe them: only "credit".
OrchestratorOptions CreditDataset() {
  OrchestratorOptions o;
  o.dataset_columns = [](const std::string& dataset)
      -> absl::StatusOr<std::vector<std::string>> {
    if (dataset != "credit") return absl::NotFoundError("no such dataset");
    return std::vector<std::string>{"Status", "Income",  "Assets", "Debt",
                                    "Home",   "Marital", "Job",    "Age"};
  };
  o.column_values = [](const std::string& dataset, const std::string& column)
      -> absl::StatusOr<std::optional<std::set<std::string>>> {
    if (dataset != "credit") return absl::NotFoundError("no such dataset");
    if (column == "Status") return std::set<std::string>{"bad", "good"};
    return std::nullopt;
  };
  return o;
}

void Submit(const v1::PipelineSpec& spec) {
  auto store = storage::NewMemoryStore();
  auto log = events::EventLog::Open(store.get(), "orchestrator");
  fuzz::Check(log.ok(), log.status().ToString());
  auto orch = Orchestrator::Open(CreditDataset(), store.get(), log->get(),
                                 &Executors());
  fuzz::Check(orch.ok(), orch.status().ToString());
  v1::SubmitRunRequest request;
  *request.mutable_spec() = spec;
  request.set_validate_only(true);
  if (!(*orch)->SubmitRun(request).ok()) return;
  if (spec.triggers_size() > 0) (void)(*orch)->CreateSchedules(spec);
}

}  // namespace
}  // namespace mlpipe::orchestrator

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto spec = mlpipe::config::ParsePipeline(mlpipe::fuzz::AsText(data, size),
                                            "fuzz.yaml");
  if (!spec.ok()) {
    mlpipe::fuzz::Check(absl::IsInvalidArgument(spec.status()),
                        "not INVALID_ARGUMENT: " + spec.status().ToString());
    return 0;
  }
  mlpipe::orchestrator::Submit(*spec);
  return 0;
}
