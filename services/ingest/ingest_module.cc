#include "services/ingest/ingest_module.h"

#include "absl/flags/flag.h"
#include "services/ingest/ingest_service.h"
#include "services/modules.h"

ABSL_FLAG(std::string, import_root, "",
          "Server-side files may be imported only from below this directory "
          "(empty: server-side import disabled).");

ABSL_FLAG(int64_t, push_commit_ms, 5,
          "Pushed rows are committed (made durable and acknowledged) this "
          "many milliseconds after the first one waits, or sooner once "
          "--push_commit_rows wait.");
ABSL_FLAG(int64_t, push_commit_rows, 4096,
          "Rows that start a group commit of pushed rows at once.");
ABSL_FLAG(int64_t, push_compact_seconds, 60,
          "Pushed rows become a dataset version this often (or once "
          "--push_compact_rows wait).");
ABSL_FLAG(int64_t, push_compact_rows, 1 << 20,
          "Pushed rows waiting that start a compaction into a dataset version "
          "at once.");
ABSL_FLAG(bool, push_sync, true,
          "fdatasync each group commit of pushed rows (without it, "
          "acknowledged rows survive a crash of the process, not of the "
          "machine).");

namespace mlpipe::ingest {

absl::StatusOr<std::unique_ptr<IngestModule>> IngestModule::Open(
    const host::ModuleEnv& env, IngestorOptions options, PushOptions push) {
  std::unique_ptr<IngestModule> m(new IngestModule(env));
  if (auto s = m->OpenStore(Ingestor::StorageOptions()); !s.ok()) return s;
  auto ingestor = Ingestor::Open(std::move(options), m->store(), m->outbox());
  if (!ingestor.ok()) return ingestor.status();
  m->ingestor_ = m->Own(std::move(*ingestor));
  push.min_free_bytes = m->min_free_bytes();
  auto pusher = Pusher::Open(std::move(push), m->DataPath("push"), m->ingestor_,
                             m->store());
  if (!pusher.ok()) return pusher.status();
  m->pusher_ = m->Own(std::move(*pusher));
  // Destroyed first: it waits for the file ingests it started.
  m->AddService(std::make_unique<IngestService>(m->ingestor_, m->pusher_),
                v1::Ingestion::service_full_name());
  return m;
}

void IngestModule::OnStop() {
  if (pusher_ != nullptr) pusher_->Stop();
}

const host::ModuleDef& IngestModuleDef() {
  static const auto* def = new host::ModuleDef{
      "ingest",
      [](const host::ModuleEnv& env)
          -> absl::StatusOr<std::unique_ptr<host::ServiceModule>> {
        IngestorOptions options;
        options.import_root = absl::GetFlag(FLAGS_import_root);
        PushOptions push;
        push.commit_interval =
            std::chrono::milliseconds(absl::GetFlag(FLAGS_push_commit_ms));
        push.commit_rows =
            static_cast<size_t>(absl::GetFlag(FLAGS_push_commit_rows));
        push.compact_interval =
            std::chrono::seconds(absl::GetFlag(FLAGS_push_compact_seconds));
        push.compact_rows = absl::GetFlag(FLAGS_push_compact_rows);
        push.sync = absl::GetFlag(FLAGS_push_sync);
        return IngestModule::Open(env, std::move(options), std::move(push));
      }};
  return *def;
}

}  // namespace mlpipe::ingest
