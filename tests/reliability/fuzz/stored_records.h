// The input form of stored_records_fuzz: the records of a store, one after
// another, each a column family index, a key and a value (varint lengths).
// make_seeds.cc writes real ingest stores in it.
#ifndef MLPIPE_TESTS_RELIABILITY_FUZZ_STORED_RECORDS_H_
#define MLPIPE_TESTS_RELIABILITY_FUZZ_STORED_RECORDS_H_

#include <string>
#include <string_view>

#include "common/storage/store.h"

namespace mlpipe::fuzz {

// The ingest store's column families (services/ingest/ingestor.h), by index.
inline constexpr const char* kIngestFamilies[] = {
    "datasets",    "batches", "blocks", "row_hashes",
    "idempotency", "pending", "events"};

// Every record of the families above, in the input form.
std::string DumpRecords(const storage::Store& store);
// Puts the records of `input` into `store`, up to the first that does not
// parse.
void LoadRecords(std::string_view input, storage::Store* store);

}  // namespace mlpipe::fuzz

#endif  // MLPIPE_TESTS_RELIABILITY_FUZZ_STORED_RECORDS_H_
