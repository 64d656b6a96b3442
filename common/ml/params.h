// Hyper-parameters of one algorithm, read from a google.protobuf.Struct with
// declared names, defaults and bounds, so a misspelt or out-of-range value
// is refused naming the parameter.
#ifndef MLPIPE_COMMON_ML_PARAMS_H_
#define MLPIPE_COMMON_ML_PARAMS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/struct.pb.h"

namespace mlpipe::ml {

// Thread-compatible. Each getter records the name as known; Check() then
// refuses any name the algorithm never asked for.
class Params {
 public:
  // `prefix` names the place in error messages ("candidates[1].params").
  Params(const google::protobuf::Struct& values, std::string prefix);

  // A number in [min, max]; `fallback` when absent.
  double Number(const std::string& name, double fallback, double min,
                double max);
  // An integer in [min, max].
  int64_t Int(const std::string& name, int64_t fallback, int64_t min,
              int64_t max);
  bool Bool(const std::string& name, bool fallback);
  // One of `allowed`.
  std::string Choice(const std::string& name, const std::string& fallback,
                     const std::vector<std::string>& allowed);
  bool Has(const std::string& name) const;

  // The first error seen (wrong type, out of range, unknown name), or OK.
  absl::Status Check() const;

 private:
  void Fail(const std::string& name, const std::string& reason);

  const google::protobuf::Struct& values_;
  const std::string prefix_;
  std::set<std::string> known_;
  absl::Status error_;
};

}  // namespace mlpipe::ml

#endif  // MLPIPE_COMMON_ML_PARAMS_H_
