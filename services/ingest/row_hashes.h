// Row fingerprints: 64-bit hashes of whole rows (every column's name and
// value), stored per batch, sorted, to count rows an upload repeats. The
// hash of a row does not depend on its columns' order.
#ifndef MLPIPE_SERVICES_INGEST_ROW_HASHES_H_
#define MLPIPE_SERVICES_INGEST_ROW_HASHES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/table/table.h"

namespace mlpipe::ingest {

// Adds column `c`'s part of each row's hash to `rows` (one per row of c).
void AddToRowHashes(const table::Column& c, std::vector<uint64_t>* rows);

// Sorted hashes as stored (little-endian u64s), and back.
std::string EncodeRowHashes(const std::vector<uint64_t>& sorted);
std::vector<uint64_t> DecodeRowHashes(std::string_view bytes);

// Entries of `sorted` equal to the entry before them.
int64_t CountRepeats(const std::vector<uint64_t>& sorted);

// Entries of `sorted` (with repeats) that are in `existing` (sorted).
int64_t CountFoundIn(const std::vector<uint64_t>& sorted,
                     const std::vector<uint64_t>& existing);

}  // namespace mlpipe::ingest

#endif  // MLPIPE_SERVICES_INGEST_ROW_HASHES_H_
