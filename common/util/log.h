// Structured logs: one JSON object per line on stderr, e.g.
// {"ts":"2026-11-22T06:30:00.123Z","level":"info","msg":"serving","grpc_port":"7000"}
#ifndef MLPIPE_COMMON_UTIL_LOG_H_
#define MLPIPE_COMMON_UTIL_LOG_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace mlpipe {

using LogFields =
    std::initializer_list<std::pair<std::string_view, std::string>>;

// Thread-safe; each call writes one whole line.
void LogInfo(std::string_view msg, LogFields fields = {});
void LogWarning(std::string_view msg, LogFields fields = {});
void LogError(std::string_view msg, LogFields fields = {});

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view s);

}  // namespace mlpipe

#endif  // MLPIPE_COMMON_UTIL_LOG_H_
