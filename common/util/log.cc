#include "common/util/log.h"

#include <cstdio>
#include <ctime>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mlpipe {
namespace {

void Write(std::string_view level, std::string_view msg, LogFields fields) {
  std::string line = "{\"ts\":\"";
  line += absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                           absl::UTCTimeZone());
  line += "\",\"level\":\"";
  line += level;
  line += "\",\"msg\":";
  line += JsonQuote(msg);
  for (const auto& [k, v] : fields) {
    line += ",";
    line += JsonQuote(k);
    line += ":";
    line += JsonQuote(v);
  }
  line += "}\n";
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

void LogInfo(std::string_view msg, LogFields fields) {
  Write("info", msg, fields);
}
void LogWarning(std::string_view msg, LogFields fields) {
  Write("warning", msg, fields);
}
void LogError(std::string_view msg, LogFields fields) {
  Write("error", msg, fields);
}

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out += "\"";
  return out;
}

}  // namespace mlpipe
