#include "common/rpc/status.h"

#include <string>

namespace mlpipe::rpc {

namespace {

// Length of the UTF-8 sequence at s[i], or 0 when it is not one.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80         ? 1
             : (c >> 5) == 6  ? 2
             : (c >> 4) == 14 ? 3
             : (c >> 3) == 30 ? 4
                              : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  return n;
}

}  // namespace

std::string BoundedMessage(std::string_view message) {
  std::string out;
  size_t run = 0;  // Bytes since the last space.
  size_t cut = 0;  // Bytes of the current run left out.
  auto flush = [&] {
    if (cut > 0) out += "...[" + std::to_string(cut) + " bytes cut]";
    cut = 0;
  };
  for (size_t i = 0; i < message.size();) {
    if (out.size() >= kMaxMessageBytes) {
      out += "...[message cut]";
      return out;
    }
    if (message[i] == ' ') {
      flush();
      out += ' ';
      run = 0;
      ++i;
      continue;
    }
    const size_t n = Utf8Length(message, i);
    if (run >= kMaxEchoBytes) {
      cut += n == 0 ? 1 : n;
    } else if (n == 0) {
      out += '?';
      ++run;
    } else {
      out.append(message.substr(i, n));
      run += n;
    }
    i += n == 0 ? 1 : n;
  }
  flush();
  return out;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      BoundedMessage(std::string(status.message())));
}

grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* ctx,
                                      const absl::Status& status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

}  // namespace mlpipe::rpc
