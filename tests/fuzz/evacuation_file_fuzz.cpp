// evacuation_file_fuzz: the rebalance plugin's evacuation file, EvacuationStore::load() of
// <data_dir>/.evacuation, read at every start before the node accepts a client.
//
// The file is the node's own, but a torn write, a full disk or a hand edit can leave anything
// there, and a node that cannot start over it is down until someone deletes it. load() promises to
// resume with defaults for whatever it cannot use. Checked, beyond the sanitizers: what it resumes
// with is what save() accepts (the loader keeps only values in the ranges the saver allows), and
// loading what save() wrote gives the same options back, without a warning.
//
// Input: the file's bytes.
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "rebalance/core/evacuation_store.hpp"

using tidemq::rebalance::EvacuationStore;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto dir = tidemq::fuzz::scratch_dir("evacuation");
  static const EvacuationStore store(dir);
  tidemq::fuzz::write_file(store.path(), std::string_view(reinterpret_cast<const char*>(data), size));

  const auto loaded = store.load();
  FUZZ_CHECK(loaded.has_value());  // there is a file

  std::string error;
  const bool saved = store.save(loaded->options, &error);
  if (!saved) std::fprintf(stderr, "save refused what load resumed with: %s\n", error.c_str());
  FUZZ_CHECK(saved);
  const auto again = store.load();
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->warnings.empty());
  FUZZ_CHECK(again->options == loaded->options);
  return 0;
}
