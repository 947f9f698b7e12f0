// The MQTT user database: a text file of `username:pbkdf2-sha256$<iterations>$<salt>$<hash>`
// lines ('#' comments and blank lines ignored; a malformed line is logged with its file and line
// and skipped; a user listed twice keeps its first line). Thread-safe:
//
//  - readers (verify, contains, list) use an immutable snapshot of the user table published with
//    an atomic shared_ptr swap, so CONNECTs on data threads never wait for a reload or a write;
//  - writers (load, reload_if_changed, add, set_password, remove) are serialised by a mutex.
//    add / set_password / remove re-read the file first, change only the lines of that user (every
//    other line, comments included, is kept as it is) and replace the file with
//    util::write_file_atomically, so a concurrent reader of the file sees the old or the new file.
//
// Verification cost. PBKDF2-SHA256 with the default 100 000 iterations takes tens of milliseconds
// and runs on the calling (data) thread, which stalls that thread's other connections meanwhile.
// Two things bound it:
//  - a successful check is cached per user as HMAC-SHA256(per-process random key, password) next
//    to the stored hash it was checked against; a reconnecting client with the same password costs
//    one HMAC. The entry is dropped when the user's line changes or disappears (reload, add,
//    set_password, remove), and it only ever matches the hash it was made for.
//  - the iteration count lives in each hash, so an operator can trade hash strength for CPU per
//    user (add/set_password take the count; tests use 1000).
// Failed checks are never cached: a flood of wrong passwords for an existing user costs one PBKDF2
// each on a data thread (see docs in auth_module.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/password_hash.hpp"

namespace tidemq::auth {

class PasswordFile {
 public:
  // `path` is used as given (the node resolves a relative path against node.data_dir).
  explicit PasswordFile(std::string path);

  const std::string& path() const { return path_; }

  enum class LoadResult {
    loaded,     // read (possibly with malformed lines skipped)
    unchanged,  // read, same contents as the table in use
    missing,    // the file does not exist: the table is now empty
    failed,     // could not be read: the previous table is kept, *error says why
  };
  // Reads the file now (startup, SIGHUP).
  LoadResult load(std::string* error = nullptr);
  // Re-reads it if it may have changed since the last read: another inode, size, mtime or ctime,
  // or an mtime / ctime so recent that a same-size rewrite within the file system's timestamp granularity
  // could hide behind it. Returns nullopt when nothing needed reading.
  std::optional<LoadResult> reload_if_changed(std::string* error = nullptr);

  // Whether `password` is the password of `user`. Thread-safe.
  bool verify(std::string_view user, std::string_view password);
  bool contains(std::string_view user) const;
  std::size_t size() const;
  std::vector<std::string> list() const;  // sorted

  // Changes the file. Errors (false + *error): invalid user name, user exists (add) / does not
  // exist (set_password, remove), the file cannot be read or written.
  bool add(const std::string& user, std::string_view password, std::string* error,
           unsigned iterations = util::kDefaultPbkdf2Iterations);
  bool set_password(const std::string& user, std::string_view password, std::string* error,
                    unsigned iterations = util::kDefaultPbkdf2Iterations);
  bool remove(const std::string& user, std::string* error);

  // A user name the file can hold: non-empty, at most 65535 bytes, no ':', no control characters
  // (so no line breaks), no leading or trailing space, not starting with '#'.
  static bool valid_username(std::string_view user, std::string* error);

  // Times the table was replaced (load with new contents, a write through this object).
  std::uint64_t generation() const { return generation_.load(); }
  // Successful checks currently cached (tests).
  std::size_t cached_users() const;

 private:
  struct Table {
    std::unordered_map<std::string, std::string> users;  // name -> stored hash
    std::string text;                                    // the file contents they came from
  };
  struct Stamp {
    bool exists = false;
    std::uint64_t dev = 0, ino = 0, size = 0;
    std::int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const Stamp&) const = default;
  };
  enum class Read { ok, missing, failed };

  Read read_locked(std::string& text, Stamp& stamp, std::string* error) const;
  Stamp stat_stamp() const;  // a missing or unreadable path gives Stamp{}
  LoadResult load_locked(std::string* error);
  void install_locked(std::shared_ptr<const Table> table);
  bool rewrite_locked(const std::string& user, const std::optional<std::string>& new_hash, bool must_exist,
                      bool must_not_exist, std::string* error);
  std::string digest(std::string_view user, std::string_view password) const;

  const std::string path_;
  const std::string cache_key_;  // random per process: cached digests are useless outside it
  std::mutex write_mu_;          // load / reload / add / set_password / remove
  Stamp stamp_;                  // under write_mu_
  bool racy_ = false;            // under write_mu_: re-read on the next poll even if the stamp is equal
  std::atomic<std::shared_ptr<const Table>> table_;
  std::atomic<std::uint64_t> generation_{0};

  struct Verified {
    std::string hash;    // the stored hash this was checked against
    std::string digest;  // HMAC of the password
  };
  mutable std::mutex cache_mu_;
  std::unordered_map<std::string, Verified> verified_;
};

// Parses password file text; malformed lines are reported through `warn(line_number, message)`.
std::unordered_map<std::string, std::string> parse_password_text(
    std::string_view text, const std::function<void(std::size_t, const std::string&)>& warn);

}  // namespace tidemq::auth
