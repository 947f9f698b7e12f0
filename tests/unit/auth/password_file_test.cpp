// The MQTT password file: parsing, loading, reload on change, verification and its cache,
// add / set_password / remove rewriting the file atomically and keeping its other lines.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include <sys/stat.h>

#include "auth/password_file.hpp"
#include "auth_test_helpers.hpp"
#include "util/password_hash.hpp"

using namespace tidemq::auth;
using namespace tidemq::auth::testing;
using tidemq::util::hash_password;
namespace fs = std::filesystem;

namespace {
constexpr unsigned kIter = 1000;  // the count is in the hash; tests need no 100 000
using LR = PasswordFile::LoadResult;
}  // namespace

TEST_CASE("password text: entries, comments, blank lines, malformed lines", "[unit][auth]") {
  QuietLog quiet;
  const std::string h1 = hash_password("pw1", kIter), h2 = hash_password("pw2", kIter);
  std::vector<std::pair<std::size_t, std::string>> warnings;
  auto warn = [&](std::size_t line, const std::string& msg) { warnings.emplace_back(line, msg); };
  const std::string text = "# users\n"                      // 1
                           "\n"                             // 2
                           "alice:" + h1 + "\n"             // 3
                           "  bob : " + h2 + "  \r\n"       // 4 spaces and CRLF
                           "no-colon-here\n"                // 5
                           "carol:secret\n"                 // 6 plain text, not a hash
                           ":" + h1 + "\n"                  // 7 empty user
                           "alice:" + h2 + "\n"             // 8 duplicate: first wins
                           "   # indented comment\n"        // 9
                           "dave:" + h2;                    // 10 no final newline
  auto users = parse_password_text(text, warn);
  REQUIRE(users.size() == 3);
  CHECK(users.at("alice") == h1);
  CHECK(users.at("bob") == h2);
  CHECK(users.at("dave") == h2);
  REQUIRE(warnings.size() == 4);
  CHECK(warnings[0].first == 5);
  CHECK(warnings[1].first == 6);
  CHECK(warnings[2].first == 7);
  CHECK(warnings[3].first == 8);
  for (const auto& [line, msg] : warnings) {
    CAPTURE(line, msg);
    CHECK(msg.find("secret") == std::string::npos);  // never echo what might be a password
  }
  CHECK(warnings[1].second.find("carol") != std::string::npos);
}

TEST_CASE("valid_username", "[unit][auth]") {
  for (const char* ok : {"alice", "a b", "user@example.com", "ü", "x#y"}) {
    CAPTURE(ok);
    CHECK(PasswordFile::valid_username(ok, nullptr));
  }
  std::string why;
  for (const std::string& bad : {std::string(), std::string("a:b"), std::string("a\nb"), std::string("a\rb"),
                                std::string(" a"), std::string("a "), std::string("#a"), std::string("a\x7f"),
                                std::string(65536, 'u')}) {
    CAPTURE(bad.substr(0, 10));
    CHECK_FALSE(PasswordFile::valid_username(bad, &why));
    CHECK_FALSE(why.empty());
  }
}

TEST_CASE("password file: load, verify, missing and unreadable files", "[unit][auth]") {
  QuietLog quiet;
  TempDir dir;
  const auto path = dir.file("passwd");

  SECTION("missing file: no users") {
    PasswordFile pf(path);
    CHECK(pf.load() == LR::missing);
    CHECK(pf.size() == 0);
    CHECK_FALSE(pf.verify("alice", "pw"));
  }
  SECTION("verify: right, wrong, unknown, empty password") {
    write_text(path, "alice:" + hash_password("s3cret", kIter) + "\nbob:" + hash_password("", kIter) + "\n");
    PasswordFile pf(path);
    REQUIRE(pf.load() == LR::loaded);
    CHECK(pf.size() == 2);
    CHECK(pf.list() == std::vector<std::string>{"alice", "bob"});
    CHECK(pf.contains("alice"));
    CHECK_FALSE(pf.contains("carol"));
    CHECK(pf.verify("alice", "s3cret"));
    CHECK_FALSE(pf.verify("alice", "s3cret "));
    CHECK_FALSE(pf.verify("alice", ""));
    CHECK_FALSE(pf.verify("carol", "s3cret"));
    CHECK_FALSE(pf.verify("ALICE", "s3cret"));
    CHECK(pf.verify("bob", ""));
    CHECK_FALSE(pf.verify("bob", "x"));
  }
  SECTION("a file that cannot be read keeps the users loaded before") {
    write_text(path, "alice:" + hash_password("pw", kIter) + "\n");
    PasswordFile pf(path);
    REQUIRE(pf.load() == LR::loaded);
    fs::remove(path);
    fs::create_directory(path);  // now a directory: open works, reading does not
    std::string error;
    CHECK(pf.load(&error) == LR::failed);
    CHECK_FALSE(error.empty());
    CHECK(pf.verify("alice", "pw"));
    CHECK_FALSE(pf.reload_if_changed());  // not retried (nor reported) every poll until it changes
    fs::remove(path);
    write_text(path, "bob:" + hash_password("pb", kIter) + "\n");
    auto r = pf.reload_if_changed();
    REQUIRE(r);
    CHECK(*r == LR::loaded);
    CHECK(pf.list() == std::vector<std::string>{"bob"});
  }
  SECTION("a file that disappears means no users") {
    write_text(path, "alice:" + hash_password("pw", kIter) + "\n");
    PasswordFile pf(path);
    REQUIRE(pf.load() == LR::loaded);
    fs::remove(path);
    auto r = pf.reload_if_changed();
    REQUIRE(r);
    CHECK(*r == LR::missing);
    CHECK(pf.size() == 0);
    CHECK_FALSE(pf.verify("alice", "pw"));
  }
}

TEST_CASE("password file: reload_if_changed", "[unit][auth]") {
  QuietLog quiet;
  TempDir dir;
  const auto path = dir.file("passwd");
  const std::string ha = hash_password("a", kIter), hb = hash_password("b", kIter);
  write_text(path, "alice:" + ha + "\n");
  PasswordFile pf(path);
  REQUIRE(pf.load() == LR::loaded);
  const auto gen = pf.generation();

  SECTION("nothing changed: nothing replaced") {
    for (int i = 0; i < 3; ++i) {
      auto r = pf.reload_if_changed();
      CHECK((!r || *r == LR::unchanged));  // a just-written file is re-read (racy stamp), never "loaded"
    }
    CHECK(pf.generation() == gen);
  }
  SECTION("a new user appears") {
    write_text(path, "alice:" + ha + "\nbob:" + hb + "\n");
    auto r = pf.reload_if_changed();
    REQUIRE(r);
    CHECK(*r == LR::loaded);
    CHECK(pf.verify("bob", "b"));
    CHECK(pf.generation() > gen);
  }
  SECTION("same size, same mtime, in place: still seen") {
    // Same length hash, different password; mtime put back to the old value.
    const auto old_mtime = fs::last_write_time(path) - std::chrono::hours(1);
    fs::last_write_time(path, old_mtime);
    pf.reload_if_changed();  // takes in the touched stamp (contents unchanged)
    const std::string hc = hash_password("c", kIter);
    REQUIRE(hc.size() == ha.size());
    write_text(path, "alice:" + hc + "\n");
    fs::last_write_time(path, old_mtime);
    auto r = pf.reload_if_changed();
    REQUIRE(r);
    CHECK(*r == LR::loaded);
    CHECK(pf.verify("alice", "c"));
    CHECK_FALSE(pf.verify("alice", "a"));
  }
  SECTION("replaced by rename (another inode)") {
    write_text(path + ".new", "carol:" + hb + "\n");
    fs::rename(path + ".new", path);
    auto r = pf.reload_if_changed();
    REQUIRE(r);
    CHECK(*r == LR::loaded);
    CHECK(pf.list() == std::vector<std::string>{"carol"});
  }
}

TEST_CASE("password file: the verification cache", "[unit][auth]") {
  QuietLog quiet;
  TempDir dir;
  const auto path = dir.file("passwd");
  const std::string hbob = hash_password("bee", kIter);
  write_text(path, "alice:" + hash_password("one", kIter) + "\nbob:" + hbob + "\n");
  PasswordFile pf(path);
  REQUIRE(pf.load() == LR::loaded);

  CHECK(pf.cached_users() == 0);
  CHECK_FALSE(pf.verify("alice", "two"));
  CHECK(pf.cached_users() == 0);  // failures are not cached
  CHECK(pf.verify("alice", "one"));
  CHECK(pf.cached_users() == 1);
  CHECK(pf.verify("alice", "one"));   // from the cache
  CHECK_FALSE(pf.verify("alice", "two"));  // a cached user still needs the right password
  CHECK(pf.verify("bob", "bee"));
  CHECK(pf.cached_users() == 2);

  SECTION("an edit of the file drops the entries of the users it changed") {
    write_text(path, "alice:" + hash_password("two", kIter) + "\nbob:" + hbob + "\n");
    auto r = pf.reload_if_changed();
    REQUIRE(r);
    REQUIRE(*r == LR::loaded);
    CHECK(pf.cached_users() == 1);  // bob's line did not change
    CHECK_FALSE(pf.verify("alice", "one"));
    CHECK(pf.verify("alice", "two"));
    CHECK(pf.verify("bob", "bee"));
  }
  SECTION("set_password and remove drop the user's entry") {
    std::string error;
    REQUIRE(pf.set_password("alice", "three", &error, kIter));
    CHECK(pf.cached_users() == 1);
    CHECK_FALSE(pf.verify("alice", "one"));
    CHECK(pf.verify("alice", "three"));
    REQUIRE(pf.remove("bob", &error));
    CHECK_FALSE(pf.verify("bob", "bee"));
    CHECK(pf.cached_users() == 1);
  }
}

TEST_CASE("password file: add, set_password, remove keep the other lines", "[unit][auth]") {
  QuietLog quiet;
  TempDir dir;
  const auto path = dir.file("passwd");
  const std::string hz = hash_password("zed", kIter);
  const std::string original = "# managed by hand\n"
                               "zed:" + hz + "\n"
                               "\n"
                               "broken line\n"
                               "# trailing comment\n";
  write_text(path, original);
  ::chmod(path.c_str(), 0640);
  PasswordFile pf(path);
  REQUIRE(pf.load() == LR::loaded);
  std::string error;

  REQUIRE(pf.add("alice", "pa", &error, kIter));
  auto text = read_text(path);
  CHECK(text.starts_with(original));
  CHECK(text.find("\nalice:pbkdf2-sha256$1000$") != std::string::npos);
  CHECK(pf.verify("alice", "pa"));
  CHECK(pf.list() == std::vector<std::string>{"alice", "zed"});
  CHECK((fs::status(path).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
  CHECK_FALSE(fs::exists(path + ".tmp"));

  SECTION("add refuses an existing user and invalid names") {
    CHECK_FALSE(pf.add("alice", "x", &error, kIter));
    CHECK(error.find("exists") != std::string::npos);
    CHECK_FALSE(pf.add("a:b", "x", &error, kIter));
    CHECK_FALSE(pf.add("", "x", &error, kIter));
    CHECK_FALSE(pf.add("two\nlines", "x", &error, kIter));
    CHECK(read_text(path) == text);
  }
  SECTION("set_password replaces the line in place") {
    REQUIRE(pf.set_password("zed", "new", &error, kIter));
    auto after = read_text(path);
    CHECK(after.starts_with("# managed by hand\nzed:pbkdf2-sha256$1000$"));
    CHECK(after.find(hz) == std::string::npos);
    CHECK(after.find("\n\nbroken line\n# trailing comment\nalice:") != std::string::npos);
    CHECK(pf.verify("zed", "new"));
    CHECK_FALSE(pf.verify("zed", "zed"));
    CHECK_FALSE(pf.set_password("nobody", "x", &error, kIter));
    CHECK(error.find("no such user") != std::string::npos);
  }
  SECTION("remove deletes the user's lines only") {
    REQUIRE(pf.remove("zed", &error));
    auto after = read_text(path);
    CHECK(after.starts_with("# managed by hand\n\nbroken line\n# trailing comment\nalice:"));
    CHECK_FALSE(pf.contains("zed"));
    CHECK_FALSE(pf.remove("zed", &error));
  }
  SECTION("writes start from the file on disk, not from the last load") {
    // Someone added a user by hand a moment ago; the poll has not seen it yet.
    write_text(path, read_text(path) + "hand:" + hz + "\n");
    REQUIRE(pf.add("bob", "pb", &error, kIter));
    CHECK(pf.list() == std::vector<std::string>{"alice", "bob", "hand", "zed"});
    CHECK(read_text(path).find("hand:" + hz + "\n") != std::string::npos);
  }
  SECTION("a user with only a malformed line can be added; the bad line is replaced") {
    write_text(path, read_text(path) + "eve:not-a-hash\n");
    REQUIRE(pf.load() == LR::loaded);
    CHECK_FALSE(pf.contains("eve"));
    REQUIRE(pf.add("eve", "pe", &error, kIter));
    auto after = read_text(path);
    CHECK(after.find("eve:not-a-hash") == std::string::npos);
    CHECK(pf.verify("eve", "pe"));
  }
}

TEST_CASE("password file: add creates a missing file (mode 0600)", "[unit][auth]") {
  QuietLog quiet;
  TempDir dir;
  const auto path = dir.file("sub/passwd");
  PasswordFile pf(path);
  REQUIRE(pf.load() == LR::missing);
  std::string error;
  REQUIRE(pf.add("alice", "pa", &error, kIter));
  CHECK(fs::exists(path));
  CHECK((fs::status(path).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  PasswordFile other(path);
  REQUIRE(other.load() == LR::loaded);
  CHECK(other.verify("alice", "pa"));
}

TEST_CASE("password file: concurrent verify while the file changes", "[unit][auth]") {
  QuietLog quiet;
  TempDir dir;
  const auto path = dir.file("passwd");
  write_text(path, "alice:" + hash_password("pa", kIter) + "\n");
  PasswordFile pf(path);
  REQUIRE(pf.load() == LR::loaded);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&] {
      while (!stop) {
        if (!pf.verify("alice", "pa")) ++bad;  // alice never changes
        if (pf.verify("alice", "wrong")) ++bad;
        pf.verify("bob", "pb");
      }
    });
  std::string error;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(pf.add("bob", "pb", &error, kIter));
    REQUIRE(pf.remove("bob", &error));
    pf.load();
  }
  stop = true;
  for (auto& th : readers) th.join();
  CHECK(bad == 0);
}
