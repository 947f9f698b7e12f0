// The persisted evacuation: <data_dir>/.evacuation (docs/rebalance.md, "Evacuation file"). A
// pretty-printed JSON object with six keys: server_reference (string or null), conn_evict_rate,
// sess_evict_rate (integers ≥ 1), wait_takeover, wait_health_check (seconds ≥ 0) and migrate_to
// (list of node names, or null for "every other running node"), plus redirect_policy when it is
// least_loaded. Written atomically before the eviction agent is enabled; removed on stop.
// Blocking file I/O: call it on the control executor.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "rebalance/core/options.hpp"

namespace tidemq::rebalance {

// The file holds six short keys; anything bigger is not ours.
inline constexpr std::size_t kMaxEvacuationFileSize = 64 * 1024;

class EvacuationStore {
 public:
  explicit EvacuationStore(std::filesystem::path data_dir);

  const std::filesystem::path& path() const noexcept { return path_; }

  // What load() found. `warnings` (each naming the file) are for the log: a file that is not a
  // JSON object, or a key whose value is unusable, resumes with the defaults for what is missing.
  struct Loaded {
    EvacuationOptions options;
    std::vector<std::string> warnings;
  };

  // nullopt when there is nothing under the name: no evacuation to resume. Otherwise the
  // evacuation resumes, with defaults overlaid by every known key that has a valid value (unknown
  // keys are ignored; `{}`, a corrupt or unreadable file give all defaults, with a warning that
  // names the file and says why). Unreadable includes a dangling symlink, anything but a regular
  // file (a FIFO or /dev/zero is never read from) and a file over kMaxEvacuationFileSize. A stray
  // temporary file left by an interrupted save is ignored: the previous file (or none) counts.
  std::optional<Loaded> load() const;

  // Refuses (false, *error) values out of range: rates 1 … 2^31−1, waits 0 … 4 294 967 s.
  bool save(const EvacuationOptions& options, std::string* error) const;

  // Removes the file (and a stray temporary); absent is fine.
  bool clear(std::string* error) const;

 private:
  std::filesystem::path path_;
};

}  // namespace tidemq::rebalance
