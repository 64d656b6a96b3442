// Stored records as ingest reads them back (dataset manifests, batch
// records, column blocks, row hashes, pending-upload markers, the event
// outbox): an ingest store's content (stored_records.h; the seeds are real
// stores) opened as the service opens it at start, every dataset listed
// and read back as frames, and an append compared with the stored rows. A
// corrupt record must be an error (DATA_LOSS), never a crash or an
// allocation sized by a stored count.
#include "common/table/frame_codec.h"
#include "services/ingest/ingestor.h"
#include "tests/reliability/fuzz/fuzz_target.h"
#include "tests/reliability/fuzz/stored_records.h"

namespace mlpipe::ingest {
namespace {

// Reads a dataset's latest version to the end (or the first error), and
// decodes what the reader sends as a client would: a frame the server sends
// must decode (a schema naming a column twice or of an unknown type, and a
// block holding another column, are DATA_LOSS).
void ReadAll(const Ingestor& ingestor, const std::string& dataset) {
  v1::ReadBatchesRequest request;
  request.set_dataset(dataset);
  auto reader = ingestor.Read(request);
  if (!reader.ok()) return;
  v1::Frame frame;
  for (int frames = 0; frames < 1000; ++frames) {
    auto more = (*reader)->Next(&frame);
    if (!more.ok() || !*more) return;
    fuzz::Check(table::TableFromFrame(std::move(frame)).ok(),
                "a frame the reader sent does not decode");
  }
}

// An append, which compares its schema and rows with the stored batches.
void Append(Ingestor& ingestor, const std::string& dataset) {
  v1::IngestHeader header;
  header.set_dataset(dataset);
  header.set_mode(v1::APPEND);
  auto upload = ingestor.BeginUpload(header);
  if (!upload.ok()) return;
  if (!(*upload)->AddChunk("Status,Income\ngood,100\nbad,\n").ok()) return;
  (void)(*upload)->Finish();
}

}  // namespace
}  // namespace mlpipe::ingest

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mlpipe;
  auto store = storage::NewMemoryStore();
  fuzz::LoadRecords(fuzz::AsText(data, size), store.get());
  auto log = events::EventLog::Open(store.get(), "ingest");
  if (!log.ok()) return 0;
  ingest::IngestorOptions options;
  options.block_rows = 4;
  auto ingestor = ingest::Ingestor::Open(options, store.get(), log->get());
  if (!ingestor.ok()) return 0;
  auto datasets = (*ingestor)->ListDatasets();
  if (!datasets.ok()) return 0;
  for (size_t i = 0; i < datasets->size() && i < 4; ++i) {
    const std::string& name = (*datasets)[i].name();
    (void)(*ingestor)->ListBatches((*datasets)[i]);
    ingest::ReadAll(**ingestor, name);
    ingest::Append(**ingestor, name);
  }
  return 0;
}
