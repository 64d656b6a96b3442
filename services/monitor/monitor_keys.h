// Keys of the monitor's windows, shared by its files. Internal to
// services/monitor.
#ifndef MLPIPE_SERVICES_MONITOR_MONITOR_KEYS_H_
#define MLPIPE_SERVICES_MONITOR_MONITOR_KEYS_H_

#include <string>
#include <string_view>

#include "common/storage/key_codec.h"
#include "common/storage/store.h"

namespace mlpipe::monitor {

inline std::string VersionPrefix(const std::string& version) {
  return version + std::string(1, '\0');
}

inline std::string WindowKey(const std::string& version, uint64_t seq) {
  std::string k = VersionPrefix(version);
  storage::AppendU64(&k, seq);
  return k;
}

// The seq after the last window of `version` stored in `cf`, or 0.
inline uint64_t NextSeq(const storage::Store& store, std::string_view cf,
                        const std::string& version) {
  auto last = store.LastKey(cf, VersionPrefix(version));
  if (!last.ok() || !last->has_value()) return 0;
  return storage::DecodeU64(
             std::string_view(**last).substr(version.size() + 1)) +
         1;
}

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_MONITOR_KEYS_H_
