// For tests of the policy: the methods of the services compiled in (link
// the generated files whole, or only the referenced ones are registered).
#ifndef MLPIPE_COMMON_AUTH_TESTING_H_
#define MLPIPE_COMMON_AUTH_TESTING_H_

#include <set>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor_database.h"

namespace mlpipe::auth::testing {

// "package.Service/Method" of every method of every service in `packages`.
inline std::vector<std::string> CompiledMethods(
    const std::set<std::string>& packages) {
  std::vector<std::string> files, out;
  google::protobuf::DescriptorPool::internal_generated_database()
      ->FindAllFileNames(&files);
  for (const auto& f : files) {
    const auto* file =
        google::protobuf::DescriptorPool::generated_pool()->FindFileByName(f);
    if (file == nullptr || !packages.contains(file->package())) continue;
    for (int s = 0; s < file->service_count(); ++s) {
      const auto* svc = file->service(s);
      for (int m = 0; m < svc->method_count(); ++m)
        out.push_back(svc->full_name() + "/" + svc->method(m)->name());
    }
  }
  return out;
}

}  // namespace mlpipe::auth::testing

#endif  // MLPIPE_COMMON_AUTH_TESTING_H_
