#include "services/split/split_module.h"

#include "clients/dataset_versions.h"
#include "clients/peer_reads.h"
#include "services/modules.h"
#include "services/split/split_service.h"

namespace mlpipe::split {
namespace {

// SplitData through the peers: feature sets from prep, dataset versions
// from ingest.
class PeerData final : public clients::PeerReads<SplitData> {
 public:
  using PeerReads::PeerReads;

  absl::StatusOr<Version> GetDatasetVersion(const std::string& dataset,
                                            int64_t version) override {
    auto v =
        ingest::GetDatasetVersion(peers_.Channel("ingest"), dataset, version);
    if (!v.ok()) return v.status();
    Version out{.version = v->version, .rows = v->rows};
    for (const auto& c : v->dataset.dataset().schema().fields())
      out.columns.push_back(c.name());
    if (const auto* made =
            ingest::FindVersion(v->dataset.dataset(), v->version))
      out.duplicate_rows = made->duplicate_rows();
    return out;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<SplitModule>> SplitModule::Open(
    const host::ModuleEnv& env, SplitModuleOptions options) {
  std::unique_ptr<SplitModule> m(new SplitModule(env));
  if (auto s = m->OpenStore(Splitter::StorageOptions()); !s.ok()) return s;
  auto* data = m->Make<PeerData>(m->peers());
  auto* splitter =
      m->Make<Splitter>(options.splitter, m->store(), m->outbox(), data);
  m->RegisterOperation<v1::SplitSpec, v1::Split>(
      "split", [splitter](const v1::SplitSpec& spec, ops::Progress& progress) {
        return splitter->Create(spec, progress);
      });
  m->AddService(std::make_unique<SplitService>(splitter, m->ops()),
                v1::Splits::service_full_name());
  return m;
}

const host::ModuleDef& SplitModuleDef() {
  static const auto* def = new host::ModuleDef{
      "split",
      [](const host::ModuleEnv& env)
          -> absl::StatusOr<std::unique_ptr<host::ServiceModule>> {
        return SplitModule::Open(env, {});
      }};
  return *def;
}

}  // namespace mlpipe::split
