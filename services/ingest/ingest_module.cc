#include "services/ingest/ingest_module.h"

#include "absl/flags/flag.h"
#include "services/ingest/ingest_service.h"
#include "services/modules.h"

ABSL_FLAG(std::string, import_root, "",
          "Server-side files may be imported only from below this directory "
          "(empty: server-side import disabled).");

namespace mlpipe::ingest {

absl::StatusOr<std::unique_ptr<IngestModule>> IngestModule::Open(
    const host::ModuleEnv& env, IngestorOptions options) {
  std::unique_ptr<IngestModule> m(new IngestModule(env));
  if (auto s = m->OpenStore(Ingestor::StorageOptions()); !s.ok()) return s;
  auto ingestor = Ingestor::Open(std::move(options), m->store(), m->outbox());
  if (!ingestor.ok()) return ingestor.status();
  m->ingestor_ = m->Own(std::move(*ingestor));
  // Destroyed first: it waits for the file ingests it started.
  m->AddService(std::make_unique<IngestService>(m->ingestor_),
                v1::Ingestion::service_full_name());
  return m;
}

const host::ModuleDef& IngestModuleDef() {
  static const auto* def = new host::ModuleDef{
      "ingest",
      [](const host::ModuleEnv& env)
          -> absl::StatusOr<std::unique_ptr<host::ServiceModule>> {
        IngestorOptions options;
        options.import_root = absl::GetFlag(FLAGS_import_root);
        return IngestModule::Open(env, std::move(options));
      }};
  return *def;
}

}  // namespace mlpipe::ingest
