#ifndef MLPIPE_COMMON_UTIL_SHA256_H_
#define MLPIPE_COMMON_UTIL_SHA256_H_

#include <memory>
#include <string>
#include <string_view>

namespace mlpipe {

// Incremental SHA-256. Not thread-safe.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  void Update(std::string_view data);
  // "sha256:<64 lowercase hex digits>". Call once.
  std::string HexDigest();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mlpipe

#endif  // MLPIPE_COMMON_UTIL_SHA256_H_
