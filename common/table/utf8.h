// UTF-8 checks and Latin-1 transcoding for text input. Protobuf refuses to
// serialize (and parse) a string field that is not valid UTF-8, so a text
// cell that is not would make every stored block it is in unreadable.
#ifndef MLPIPE_COMMON_TABLE_UTF8_H_
#define MLPIPE_COMMON_TABLE_UTF8_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/table/text_rows.h"

namespace mlpipe::table {

// Offset of the first byte of `text` that does not begin a valid UTF-8
// sequence (RFC 3629: shortest form, no surrogates, at most U+10FFFF), or
// std::string_view::npos when it is all valid.
size_t InvalidUtf8At(std::string_view text);

// `in` read as Latin-1 (ISO 8859-1: each byte is the code point) written as
// UTF-8, appended to `out`.
void AppendLatin1AsUtf8(std::string_view in, std::string* out);

// Every column name and cell of `rows` is valid UTF-8; else INVALID_ARGUMENT
// "line L, column 'C': not valid UTF-8 (byte 0xE9 at byte N of the value)".
absl::Status CheckUtf8(const TextRows& rows);

}  // namespace mlpipe::table

#endif  // MLPIPE_COMMON_TABLE_UTF8_H_
