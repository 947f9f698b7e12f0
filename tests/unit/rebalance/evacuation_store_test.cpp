#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "tidemq/util/atomic_file.hpp"
#include "rebalance/core/evacuation_store.hpp"
#include "rebalance_test_helpers.hpp"

using namespace tidemq::rebalance;
using namespace std::chrono_literals;
using test::TempDir;

namespace {

void write_raw(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string read_raw(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

EvacuationOptions sample() {
  EvacuationOptions o;
  o.server_reference = "mqtt2.example.com:1883";
  o.conn_evict_rate = 30;
  o.sess_evict_rate = 40;
  o.wait_takeover = 90s;
  o.wait_health_check = 15s;
  o.migrate_to = std::vector<NodeId>{"n2@127.0.0.1", "n3@127.0.0.1"};
  return o;
}

}  // namespace

TEST_CASE("evacuation store: the file lives at <data_dir>/.evacuation", "[unit][rebalance][store]") {
  EvacuationStore store{"/var/lib/tidemq"};
  CHECK(store.path() == std::filesystem::path("/var/lib/tidemq/.evacuation"));
}

TEST_CASE("evacuation store: no file, no evacuation", "[unit][rebalance][store]") {
  TempDir dir;
  EvacuationStore store{dir.path};
  CHECK_FALSE(store.load().has_value());
  EvacuationStore missing_dir{dir.path / "not" / "there"};
  CHECK_FALSE(missing_dir.load().has_value());
}

TEST_CASE("evacuation store: save and load round trip", "[unit][rebalance][store]") {
  TempDir dir;
  EvacuationStore store{dir.path / "data"};  // the directory is created
  std::string error;
  REQUIRE(store.save(sample(), &error));
  auto loaded = store.load();
  REQUIRE(loaded.has_value());
  CHECK(loaded->options == sample());
  CHECK(loaded->warnings.empty());
  // A pretty-printed JSON object with the six keys (docs/rebalance.md, "Evacuation file").
  const auto text = read_raw(store.path());
  CHECK(text.find('\n') != std::string::npos);
  CHECK(nlohmann::json::parse(text) == nlohmann::json::parse(R"({"server_reference":"mqtt2.example.com:1883",
      "conn_evict_rate":30,"sess_evict_rate":40,"wait_takeover":90,"wait_health_check":15,
      "migrate_to":["n2@127.0.0.1","n3@127.0.0.1"]})"));
  CHECK_FALSE(std::filesystem::exists(tidemq::util::temp_path_for(store.path())));
}

TEST_CASE("evacuation store: defaults round trip with nulls", "[unit][rebalance][store]") {
  TempDir dir;
  EvacuationStore store{dir.path};
  REQUIRE(store.save(EvacuationOptions{}, nullptr));
  CHECK(nlohmann::json::parse(read_raw(store.path())) ==
        nlohmann::json::parse(R"({"server_reference":null,"conn_evict_rate":500,"sess_evict_rate":500,
            "wait_takeover":60,"wait_health_check":0,"migrate_to":null})"));
  auto loaded = store.load();
  REQUIRE(loaded);
  CHECK(loaded->options == EvacuationOptions{});
}

TEST_CASE("evacuation store: {} resumes with all defaults", "[unit][rebalance][store]") {
  TempDir dir;
  EvacuationStore store{dir.path};
  write_raw(store.path(), "{}");
  auto loaded = store.load();
  REQUIRE(loaded.has_value());
  CHECK(loaded->options == EvacuationOptions{});
  CHECK(loaded->warnings.empty());
}

TEST_CASE("evacuation store: a corrupt file resumes with defaults and a warning naming it",
          "[unit][rebalance][store]") {
  for (const char* text : {"not json at all", "{\"conn_evict_rate\": 5", "[1,2]", "42", ""}) {
    TempDir dir;
    EvacuationStore store{dir.path};
    write_raw(store.path(), text);
    INFO(text);
    auto loaded = store.load();
    REQUIRE(loaded.has_value());  // the evacuation is still resumed
    CHECK(loaded->options == EvacuationOptions{});
    REQUIRE(loaded->warnings.size() == 1);
    CHECK(loaded->warnings[0].find(store.path().string()) != std::string::npos);
  }
}

TEST_CASE("evacuation store: known keys override defaults, bad values are warned about",
          "[unit][rebalance][store]") {
  TempDir dir;
  EvacuationStore store{dir.path};
  write_raw(store.path(), R"({"conn_evict_rate": 7, "sess_evict_rate": "fast", "wait_takeover": -1,
      "server_reference": null, "migrate_to": [], "future_key": {"x": 1}, "wait_health_check": 3})");
  auto loaded = store.load();
  REQUIRE(loaded.has_value());
  CHECK(loaded->options.conn_evict_rate == 7);
  CHECK(loaded->options.sess_evict_rate == 500);
  CHECK(loaded->options.wait_takeover == 60s);
  CHECK(loaded->options.wait_health_check == 3s);
  CHECK_FALSE(loaded->options.server_reference.has_value());
  CHECK_FALSE(loaded->options.migrate_to.has_value());
  REQUIRE(loaded->warnings.size() == 3);  // sess_evict_rate, wait_takeover, migrate_to; unknown keys ignored
  for (const auto& w : loaded->warnings) CHECK(w.find(store.path().string()) != std::string::npos);
  CHECK(loaded->warnings[0].find("sess_evict_rate") != std::string::npos);
}

TEST_CASE("evacuation store: an interrupted write keeps the old file", "[unit][rebalance][store]") {
  TempDir dir;
  EvacuationStore store{dir.path};
  REQUIRE(store.save(sample(), nullptr));
  // A save cut before its rename leaves a partial temporary file behind.
  write_raw(tidemq::util::temp_path_for(store.path()), "{\"conn_evict_rate\": 1, \"sess_ev");
  auto loaded = store.load();
  REQUIRE(loaded.has_value());
  CHECK(loaded->options == sample());
  CHECK(loaded->warnings.empty());
  // The next save replaces both.
  EvacuationOptions next;
  next.conn_evict_rate = 11;
  REQUIRE(store.save(next, nullptr));
  CHECK(store.load()->options == next);
  CHECK_FALSE(std::filesystem::exists(tidemq::util::temp_path_for(store.path())));
}

TEST_CASE("evacuation store: an interrupted first write means no evacuation", "[unit][rebalance][store]") {
  TempDir dir;
  EvacuationStore store{dir.path};
  write_raw(tidemq::util::temp_path_for(store.path()), "{\"conn_evi");
  CHECK_FALSE(store.load().has_value());
}

TEST_CASE("evacuation store: clear", "[unit][rebalance][store]") {
  TempDir dir;
  EvacuationStore store{dir.path};
  std::string error;
  CHECK(store.clear(&error));  // nothing to clear is fine
  REQUIRE(store.save(sample(), nullptr));
  write_raw(tidemq::util::temp_path_for(store.path()), "junk");
  CHECK(store.clear(&error));
  CHECK_FALSE(std::filesystem::exists(store.path()));
  CHECK_FALSE(std::filesystem::exists(tidemq::util::temp_path_for(store.path())));
  CHECK_FALSE(store.load().has_value());
}

TEST_CASE("evacuation store: save refuses values out of range", "[unit][rebalance][store]") {
  TempDir dir;
  EvacuationStore store{dir.path};
  REQUIRE(store.save(sample(), nullptr));
  auto bad = sample();
  bad.conn_evict_rate = 0;
  std::string error;
  CHECK_FALSE(store.save(bad, &error));
  CHECK(error.find(store.path().string()) != std::string::npos);
  bad = sample();
  bad.wait_takeover = -1s;
  CHECK_FALSE(store.save(bad, nullptr));
  bad = sample();
  bad.migrate_to = std::vector<NodeId>{};
  CHECK_FALSE(store.save(bad, nullptr));
  CHECK(store.load()->options == sample());  // untouched
}

TEST_CASE("evacuation store: write failures are reported", "[unit][rebalance][store]") {
  TempDir dir;
  write_raw(dir.path / "file", "x");
  EvacuationStore store{dir.path / "file"};  // the data dir is a regular file
  std::string error;
  CHECK_FALSE(store.save(sample(), &error));
  CHECK_FALSE(error.empty());
}

TEST_CASE("evacuation store: what cannot be read resumes with defaults, never hangs, never reads without limit",
          "[unit][rebalance][store]") {
  TempDir dir;
  EvacuationStore store{dir.path};
  auto resumed_because = [&](const std::string& why) {
    auto loaded = store.load();
    REQUIRE(loaded.has_value());  // refusing clients is safer than silently serving
    CHECK(loaded->options == EvacuationOptions{});
    REQUIRE(loaded->warnings.size() == 1);
    CHECK(loaded->warnings[0].find(store.path().string()) != std::string::npos);
    CHECK(loaded->warnings[0].find(why) != std::string::npos);
    std::filesystem::remove(store.path());
  };
  SECTION("a symlink to /dev/zero") {
    std::filesystem::create_symlink("/dev/zero", store.path());
    resumed_because("not a regular file");
  }
  SECTION("a FIFO") {
    REQUIRE(::mkfifo(store.path().c_str(), 0600) == 0);
    resumed_because("not a regular file");  // returns at once: nobody writes into it
  }
  SECTION("a dangling symlink") {
    std::filesystem::create_symlink(dir.path / "gone", store.path());
    resumed_because("No such file or directory");
  }
  SECTION("a directory") {
    std::filesystem::create_directory(store.path());
    resumed_because("not a regular file");
  }
  SECTION("a file over the size limit") {
    write_raw(store.path(), "{" + std::string(kMaxEvacuationFileSize, ' ') + "}");
    resumed_because("larger than 65536 bytes");
  }
  SECTION("a symlink to a good file is followed") {
    EvacuationStore elsewhere{dir.path / "sub"};
    std::filesystem::create_directory(dir.path / "sub");
    REQUIRE(elsewhere.save(sample(), nullptr));
    std::filesystem::create_symlink(elsewhere.path(), store.path());
    auto loaded = store.load();
    REQUIRE(loaded.has_value());
    CHECK(loaded->options == sample());
    CHECK(loaded->warnings.empty());
  }
}
