// The GoogleTest driver of a fuzz target (its LLVMFuzzerTestOneInput, linked
// beside this file): replays every input of the target's corpus, then runs
// seeded mutations of them for FUZZ_SECONDS (default 20). Without
// sanitizers it still catches what matters most in CI: crashes, aborts, a
// case that hangs, and unbounded allocation (one allocation over 256 MiB,
// or the address space over 4 GiB, fails). The input that failed is written
// to fuzz-crash-<target> in the working directory, to be replayed (add it
// to the corpus once fixed; FUZZ_CORPUS=FILE replays it alone). FUZZ_SEED
// (default 1) picks the mutations.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <new>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/reliability/fuzz/mutator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define MLPIPE_STR2(x) #x
#define MLPIPE_STR(x) MLPIPE_STR2(x)

namespace {

// While a case runs: an allocation above this fails the test.
constexpr size_t kMaxAllocation = size_t{256} << 20;
constexpr rlim_t kMaxAddressSpace = rlim_t{4} << 30;
constexpr unsigned kMaxCaseSeconds = 10;

std::atomic<bool> capped{false};
// The case running now, for the signal handlers (no allocation there).
const char* volatile current_data = nullptr;
volatile size_t current_size = 0;
char crash_path[4096];

void Say(const char* text) {
  (void)!write(STDERR_FILENO, text, std::strlen(text));
}

// Async-signal-safe: saves the input that is running.
void SaveCurrentInput() {
  if (current_data == nullptr) return;
  int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  (void)!write(fd, current_data, current_size);
  close(fd);
  Say("fuzz: the failing input is in ");
  Say(crash_path);
  Say("\n");
}

void OnFatalSignal(int sig) {
  Say(sig == SIGALRM ? "fuzz: a case ran longer than its limit\n"
                     : "fuzz: fatal signal during a case\n");
  SaveCurrentInput();
  signal(sig == SIGALRM ? SIGABRT : sig, SIG_DFL);
  raise(sig == SIGALRM ? SIGABRT : sig);
}

void InstallGuards() {
  static bool done = false;
  if (done) return;
  done = true;
  std::snprintf(crash_path, sizeof(crash_path), "%s/fuzz-crash-%s",
                std::filesystem::current_path().c_str(),
                MLPIPE_STR(MLPIPE_FUZZ_SUITE));
  for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGALRM})
    signal(sig, OnFatalSignal);
  rlimit limit{kMaxAddressSpace, kMaxAddressSpace};
  setrlimit(RLIMIT_AS, &limit);
}

// Runs one case under the allocation cap and the time limit. An exception
// out of a decoder (it would end a server) fails the test like a crash.
bool RunCase(const std::string& input) {
  current_data = input.data();
  current_size = input.size();
  alarm(kMaxCaseSeconds);
  capped = true;
  bool ok = true;
  try {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()),
                           input.size());
  } catch (const std::exception& e) {
    ADD_FAILURE() << "exception out of the target: " << e.what();
    ok = false;
  }
  capped = false;
  alarm(0);
  if (!ok) SaveCurrentInput();
  current_data = nullptr;
  return ok;
}

// The files of the target's corpus directory, or of FUZZ_CORPUS (a
// directory or one file, e.g. a saved failing input) when set.
std::vector<std::string> ReadCorpus() {
  const char* env = std::getenv("FUZZ_CORPUS");
  const std::filesystem::path dir = env ? env : MLPIPE_FUZZ_CORPUS;
  std::vector<std::filesystem::path> files = {dir};
  if (std::filesystem::is_directory(dir)) {
    files.clear();
    for (const auto& e : std::filesystem::directory_iterator(dir))
      files.push_back(e.path());
  }
  std::vector<std::string> corpus;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    corpus.push_back(bytes.str());
  }
  return corpus;
}

double EnvOr(const char* name, double otherwise) {
  const char* v = std::getenv(name);
  return v == nullptr || *v == '\0' ? otherwise : std::strtod(v, nullptr);
}

TEST(MLPIPE_FUZZ_SUITE, ReplaysTheCorpus) {
  InstallGuards();
  const std::vector<std::string> corpus = ReadCorpus();
  ASSERT_FALSE(corpus.empty()) << "no inputs";
  for (const auto& input : corpus) ASSERT_TRUE(RunCase(input));
  std::cerr << corpus.size() << " corpus inputs replayed\n";
}

TEST(MLPIPE_FUZZ_SUITE, SurvivesMutations) {
  InstallGuards();
  const double seconds = EnvOr("FUZZ_SECONDS", 20);
  const auto seed = static_cast<uint64_t>(EnvOr("FUZZ_SEED", 1));
  mlpipe::fuzz::Mutator mutator(seed, ReadCorpus());
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  size_t cases = 0;
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 64; ++i, ++cases) ASSERT_TRUE(RunCase(mutator.Next()));
  }
  const std::chrono::duration<double> took =
      std::chrono::steady_clock::now() - start;
  std::cerr << MLPIPE_STR(MLPIPE_FUZZ_SUITE) << ": " << cases
            << " mutated cases in " << took.count() << " s (seed " << seed
            << "), no crash\n";
}

}  // namespace

// Allocations go through malloc as the library's own operator new does, so
// the default operator delete frees them; only the size is checked.
void* operator new(size_t size) {
  if (capped && size > kMaxAllocation) {
    Say("fuzz: an allocation over the cap (a claimed size trusted?)\n");
    SaveCurrentInput();
    current_data = nullptr;  // Saved once, not again on SIGABRT.
    std::abort();
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size) { return operator new(size); }
