// Helpers shared by the fuzz targets: a failed check that libFuzzer records as a crash, reading
// choices from the front of an input, a scratch directory per process and quiet logs.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

// A property the code under test guarantees does not hold: print it and stop, so that libFuzzer
// saves the input (a trap is a crash to it, like a sanitizer report).
#define FUZZ_CHECK(cond)                                                                         \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      std::fprintf(stderr, "fuzz check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
      __builtin_trap();                                                                          \
    }                                                                                            \
  } while (0)

namespace tidemq::fuzz {

// Reads choices from the front of the input; what is left is the data. Past the end it reads zeros,
// so that every input is valid.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}
  std::uint8_t byte() {
    if (rest_.empty()) return 0;
    const auto b = static_cast<std::uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

// A directory of this process's own (several fuzzing processes may run at once), made once and
// removed at a normal exit. In /dev/shm when there is one: the code under test writes its files
// durably, and an fsync on tmpfs costs nothing, where on a disk it would cost most of the run.
inline const std::filesystem::path& scratch_dir(const char* target) {
  static const std::filesystem::path dir = [target] {
    std::error_code ec;
    const std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0
                                           ? std::filesystem::path("/dev/shm")
                                           : std::filesystem::temp_directory_path();
    // libFuzzer often ends a process without running exit handlers: directories of processes that
    // are gone are removed here.
    for (const auto& e : std::filesystem::directory_iterator(base, ec)) {
      const std::string name = e.path().filename().string();
      const auto dash = name.rfind('-');
      if (!name.starts_with("tidemq-fuzz-") || dash == std::string::npos) continue;
      const long pid = std::strtol(name.c_str() + dash + 1, nullptr, 10);
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) std::filesystem::remove_all(e.path(), ec);
    }
    auto d = base / (std::string("tidemq-fuzz-") + target + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(nullptr), ec);
    });
    return d;
  }();
  return dir;
}

inline void write_file(const std::filesystem::path& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  FUZZ_CHECK(out.good());
}

// TIDEMQ_FUZZ_VERBOSE=1: the targets that run requests print what they answered (to check that
// the seeds reach what they are meant to; running a single input is enough).
inline bool verbose() {
  static const bool on = [] {
    const char* v = std::getenv("TIDEMQ_FUZZ_VERBOSE");
    return v && *v && *v != '0';
  }();
  return on;
}

// Logging costs more than most inputs' work and says nothing a crash report would need.
inline void quiet_logs() { spdlog::set_level(spdlog::level::off); }

}  // namespace tidemq::fuzz
