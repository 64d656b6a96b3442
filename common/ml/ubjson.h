// A checked reader of UBJSON (https://ubjson.org), the form XGBoost models
// are stored in (v1::TreeEnsembleParameters.xgboost_ubj). XGBoost 1.7's
// reader trusts what the bytes claim: it reads a string or typed array of
// the length stated past the end of the buffer, allocates whatever element
// count it is told, and recurses once per nesting level. Bytes this reader
// accepts cannot make it do any of that.
#ifndef MLPIPE_COMMON_ML_UBJSON_H_
#define MLPIPE_COMMON_ML_UBJSON_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"

namespace mlpipe::ml {

// Containers nested deeper than this are refused (XGBoost's models nest a
// handful of levels).
inline constexpr int kMaxUbjsonDepth = 64;

// The value when `bytes` is one UBJSON value, with every length and count
// covered by the bytes that follow it, nested at most kMaxUbjsonDepth deep,
// no object giving a key twice; else DATA_LOSS naming the byte offset and
// what is wrong. Numbers (typed arrays' too) as doubles, no-op and null as
// null.
absl::StatusOr<google::protobuf::Value> ParseUbjson(std::string_view bytes);

}  // namespace mlpipe::ml

#endif  // MLPIPE_COMMON_ML_UBJSON_H_
