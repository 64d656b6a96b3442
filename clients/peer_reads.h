// The reads services make of each other, through the peers, once for every
// module: a module's source adapter is PeerReads<ItsSourcesInterface>, and
// each method here implements the interface's method of the same signature
// (those the interface does not declare are unused).
#ifndef MLPIPE_CLIENTS_PEER_READS_H_
#define MLPIPE_CLIENTS_PEER_READS_H_

#include <memory>
#include <string>
#include <vector>

#include "clients/ingest_client.h"
#include "clients/prep_client.h"
#include "clients/split_client.h"
#include "clients/train_client.h"
#include "common/rpc/peers.h"

namespace mlpipe::clients {

// Thread-safe. `peers` must outlive it.
template <typename Sources>
class PeerReads : public Sources {
 public:
  explicit PeerReads(const rpc::Peers& peers) : peers_(peers) {}

  // train
  absl::StatusOr<v1::ModelArtifact> GetModel(const std::string& id) {
    return train::GetModel(peers_.Channel("train"), id);
  }
  // split
  absl::StatusOr<v1::Split> GetSplit(const std::string& id) {
    return split::GetSplit(peers_.Channel("split"), id);
  }
  absl::StatusOr<std::vector<v1::SplitAssignments>> ReadAssignments(
      const std::string& id) {
    return split::ReadAssignments(peers_.Channel("split"), id);
  }
  // prep
  absl::StatusOr<v1::FeatureSet> GetFeatureSet(const std::string& id) {
    return prep::GetFeatureSet(peers_.Channel("prep"), id);
  }
  absl::StatusOr<v1::FittedTransform> GetTransform(const std::string& id) {
    return prep::GetTransform(peers_.Channel("prep"), id);
  }
  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadFeatures(
      const v1::ReadFeaturesRequest& request) {
    return prep::ReadFeatures(peers_.Channel("prep"), request);
  }
  // ingest: the rows of every batch up to `version`, only `columns`.
  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadDataset(
      const std::string& dataset, int64_t version,
      const std::vector<std::string>& columns) {
    return ingest::ReadVersion(peers_.Channel("ingest"), dataset, version,
                               columns);
  }

 protected:
  const rpc::Peers& peers_;
};

}  // namespace mlpipe::clients

#endif  // MLPIPE_CLIENTS_PEER_READS_H_
