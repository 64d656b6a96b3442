#include "services/evaluate/evaluate_module.h"

#include "clients/peer_reads.h"
#include "services/evaluate/evaluate_service.h"
#include "services/modules.h"

namespace mlpipe::evaluate {
namespace {

// EvaluateSources through the peers.
using PeerSources = clients::PeerReads<EvaluateSources>;

}  // namespace

absl::StatusOr<std::unique_ptr<EvaluateModule>> EvaluateModule::Open(
    const host::ModuleEnv& env, EvaluatorOptions options) {
  std::unique_ptr<EvaluateModule> m(new EvaluateModule(env));
  if (auto s = m->OpenStore(Evaluator::StorageOptions()); !s.ok()) return s;
  auto* sources = m->Make<PeerSources>(m->peers());
  auto* evaluator =
      m->Make<Evaluator>(options, m->store(), m->outbox(), sources);
  m->RegisterOperation<v1::EvaluateRequest, v1::Evaluation>(
      "evaluate",
      [evaluator](const v1::EvaluateRequest& request, ops::Progress& progress) {
        return evaluator->Run(request, progress);
      });
  m->AddService(std::make_unique<EvaluateService>(evaluator, m->ops()),
                v1::Evaluator::service_full_name());
  return m;
}

const host::ModuleDef& EvaluateModuleDef() {
  static const auto* def = new host::ModuleDef{
      "evaluate",
      [](const host::ModuleEnv& env)
          -> absl::StatusOr<std::unique_ptr<host::ServiceModule>> {
        return EvaluateModule::Open(env, {});
      }};
  return *def;
}

}  // namespace mlpipe::evaluate
