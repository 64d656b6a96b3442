// What a dataset version is made of. A version is a list of batches fixed
// when it is made (an upload appends or replaces; a revert or a batch
// deletion makes a new list); versions stored before the lists existed are
// every batch of versions 1..v. Pure functions over v1::Dataset, shared by
// the ingest service (reading a version) and its readers (what a version
// adds to an earlier one).
#ifndef MLPIPE_CLIENTS_DATASET_VERSIONS_H_
#define MLPIPE_CLIENTS_DATASET_VERSIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mlpipe/v1/dataset.pb.h"

namespace mlpipe::ingest {

// The version numbered `version` (0: the latest); nullptr when there is none.
const v1::DatasetVersion* FindVersion(const v1::Dataset& dataset,
                                      int64_t version);

// The batches of `version` (which must be one of `dataset`'s), in order.
std::vector<std::string> VersionBatches(const v1::Dataset& dataset,
                                        const v1::DatasetVersion& version);

// Every batch any version names, in the order they first appear.
std::vector<std::string> AllBatches(const v1::Dataset& dataset);

// The batches `to` adds to `from` when `to` is `from` plus more batches
// (appends since); nullopt when `to` is not (a replace, revert or deletion
// came between): then every row of `to` is new.
std::optional<std::vector<std::string>> AddedBatches(
    const v1::Dataset& dataset, const v1::DatasetVersion& from,
    const v1::DatasetVersion& to);

}  // namespace mlpipe::ingest

#endif  // MLPIPE_CLIENTS_DATASET_VERSIONS_H_
