#include "tests/reliability/fuzz/stored_records.h"

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace mlpipe::fuzz {

using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;
using google::protobuf::io::StringOutputStream;

std::string DumpRecords(const storage::Store& store) {
  std::string out;
  {
    StringOutputStream stream(&out);
    CodedOutputStream coded(&stream);
    for (uint32_t cf = 0; cf < std::size(kIngestFamilies); ++cf) {
      for (auto it = store.Scan(kIngestFamilies[cf], ""); it->Valid();
           it->Next()) {
        coded.WriteVarint32(cf);
        coded.WriteVarint32(static_cast<uint32_t>(it->key().size()));
        coded.WriteRaw(it->key().data(), static_cast<int>(it->key().size()));
        coded.WriteVarint32(static_cast<uint32_t>(it->value().size()));
        coded.WriteRaw(it->value().data(),
                       static_cast<int>(it->value().size()));
      }
    }
  }
  return out;
}

void LoadRecords(std::string_view input, storage::Store* store) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(input.data()),
                      static_cast<int>(input.size()));
  uint32_t cf = 0, size = 0;
  std::string key, value;
  while (in.ReadVarint32(&cf) && in.ReadVarint32(&size) &&
         in.ReadString(&key, static_cast<int>(size)) &&
         in.ReadVarint32(&size) &&
         in.ReadString(&value, static_cast<int>(size))) {
    (void)store->Put(kIngestFamilies[cf % std::size(kIngestFamilies)], key,
                     value);
  }
}

}  // namespace mlpipe::fuzz
