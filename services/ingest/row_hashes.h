// Row fingerprints: 64-bit hashes of whole rows (every column's name and
// value), to count the rows an upload repeats. The hash of a row does not
// depend on its columns' order. A batch's hashes are stored per block when
// an append will compare against them, else computed from its blocks the
// first time one does (RowHashesOf).
#ifndef MLPIPE_SERVICES_INGEST_ROW_HASHES_H_
#define MLPIPE_SERVICES_INGEST_ROW_HASHES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mlpipe/v1/frame.pb.h"

namespace mlpipe::ingest {

// Adds column `c`'s part of each row's hash to `rows` (one per row of c),
// from the column as stored (a block's, a frame's: either layout).
void AddToRowHashes(const v1::Column& c, std::vector<uint64_t>* rows);

// Hashes as stored (little-endian u64s), and back.
std::string EncodeRowHashes(const std::vector<uint64_t>& hashes);
std::vector<uint64_t> DecodeRowHashes(std::string_view bytes);

// Rows that repeat an earlier row, counted once every row has been added.
// Hashes go to 256 partitions by their top byte as they come, and each
// partition is counted on its own, in cache (one set of every row would
// miss the cache at every row). Not thread-safe.
class RepeatCounter {
 public:
  void Add(const std::vector<uint64_t>& hashes) {
    for (uint64_t h : hashes) parts_[h >> 56].push_back(h);
  }
  // The rows added so far that repeat an earlier one (rows may be added
  // after: a count of the earlier ones subtracted from a later count gives
  // the repeats among what came between).
  int64_t Count();

 private:
  std::vector<uint64_t> parts_[256];
};

}  // namespace mlpipe::ingest

#endif  // MLPIPE_SERVICES_INGEST_ROW_HASHES_H_
