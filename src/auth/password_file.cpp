#include "auth/password_file.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tidemq/util/atomic_file.hpp"

namespace tidemq::auth {

namespace {

// An mtime or ctime closer to now than this may hide a same-size rewrite in the same timestamp
// tick (file systems stamp with a coarse clock), so such a file is read once more on the next poll.
constexpr std::int64_t kRacyWindowNs = 2'000'000'000;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

struct Line {
  enum class Kind { skip, entry, malformed } kind = Kind::skip;
  std::string_view user;  // entry; also malformed lines that have a ':' (their name part)
  std::string_view hash;  // entry
  std::string problem;    // malformed
};

// The password is never part of a message: a line may hold one by mistake ("user:secret").
Line parse_line(std::string_view raw) {
  Line l;
  auto s = trim(raw);
  if (s.empty() || s.front() == '#') return l;
  l.kind = Line::Kind::malformed;
  auto colon = s.find(':');
  if (colon == std::string_view::npos) {
    l.problem = "expected 'username:pbkdf2-sha256$...', found no ':'";
    return l;
  }
  l.user = trim(s.substr(0, colon));
  auto hash = trim(s.substr(colon + 1));
  std::string why;
  if (!PasswordFile::valid_username(l.user, &why)) {
    l.problem = why;
    return l;
  }
  if (!util::is_password_hash(hash)) {
    l.problem = "user '" + std::string(l.user) + "': not a pbkdf2-sha256$<iterations>$<salt>$<hash> value";
    return l;
  }
  l.kind = Line::Kind::entry;
  l.hash = hash;
  return l;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) {
      lines.push_back(text);
      break;
    }
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return lines;
}

std::int64_t ns(const timespec& t) { return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec; }

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::unordered_map<std::string, std::string> parse_password_text(
    std::string_view text, const std::function<void(std::size_t, const std::string&)>& warn) {
  std::unordered_map<std::string, std::string> users;
  std::size_t n = 0;
  for (auto raw : split_lines(text)) {
    ++n;
    auto l = parse_line(raw);
    if (l.kind == Line::Kind::malformed) {
      if (warn) warn(n, l.problem);
    } else if (l.kind == Line::Kind::entry) {
      auto [it, fresh] = users.emplace(std::string(l.user), std::string(l.hash));
      if (!fresh && warn) warn(n, "user '" + std::string(l.user) + "' is listed again; the first line wins");
    }
  }
  return users;
}

PasswordFile::PasswordFile(std::string path)
    : path_(std::move(path)), cache_key_(util::random_token(32)), table_(std::make_shared<const Table>()) {}

bool PasswordFile::valid_username(std::string_view user, std::string* error) {
  auto fail = [&](const char* why) {
    if (error) *error = why;
    return false;
  };
  if (user.empty()) return fail("empty user name");
  if (user.size() > 65535) return fail("user name longer than 65535 bytes");
  if (user.find(':') != std::string_view::npos) return fail("user name contains ':'");
  for (unsigned char ch : user)
    if (ch < 0x20 || ch == 0x7F) return fail("user name contains a control character");
  if (user.front() == ' ' || user.back() == ' ') return fail("user name starts or ends with a space");
  if (user.front() == '#') return fail("user name starts with '#'");
  return true;
}

PasswordFile::Read PasswordFile::read_locked(std::string& text, Stamp& stamp, std::string* error) const {
  text.clear();
  stamp = Stamp{};
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Read::missing;
    if (error) *error = "cannot open " + path_ + ": " + std::strerror(errno);
    return Read::failed;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (error) *error = path_ + " is not a regular file";
    ::close(fd);
    return Read::failed;
  }
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (error) *error = "cannot read " + path_ + ": " + std::strerror(errno);
      ::close(fd);
      return Read::failed;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  stamp = Stamp{true, static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                static_cast<std::uint64_t>(st.st_size), ns(st.st_mtim), ns(st.st_ctim)};
  return Read::ok;
}

void PasswordFile::install_locked(std::shared_ptr<const Table> table) {
  {
    std::lock_guard lk(cache_mu_);
    std::erase_if(verified_, [&](const auto& e) {
      auto it = table->users.find(e.first);
      return it == table->users.end() || it->second != e.second.hash;
    });
  }
  table_.store(std::move(table));
  ++generation_;
}

PasswordFile::LoadResult PasswordFile::load_locked(std::string* error) {
  std::string text;
  Stamp stamp;
  auto r = read_locked(text, stamp, error);
  if (r == Read::failed) {
    // Keep the users we have; try again (and report again) only once the file changes.
    stamp_ = stat_stamp();
    racy_ = false;
    return LoadResult::failed;
  }
  stamp_ = stamp;
  racy_ = r == Read::ok && now_ns() - std::max(stamp.mtime_ns, stamp.ctime_ns) < kRacyWindowNs;
  if (r == Read::missing) {
    if (!table_.load()->users.empty() || generation_ == 0) install_locked(std::make_shared<const Table>());
    return LoadResult::missing;
  }
  auto current = table_.load();
  if (generation_ > 0 && current->text == text) return LoadResult::unchanged;
  auto t = std::make_shared<Table>();
  t->users = parse_password_text(text, [&](std::size_t line, const std::string& problem) {
    spdlog::warn("password file {} line {}: {}; line skipped", path_, line, problem);
  });
  t->text = std::move(text);
  install_locked(std::move(t));
  return LoadResult::loaded;
}

PasswordFile::LoadResult PasswordFile::load(std::string* error) {
  std::lock_guard lk(write_mu_);
  return load_locked(error);
}

PasswordFile::Stamp PasswordFile::stat_stamp() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return Stamp{};
  return Stamp{true, static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
               static_cast<std::uint64_t>(st.st_size), ns(st.st_mtim), ns(st.st_ctim)};
}

std::optional<PasswordFile::LoadResult> PasswordFile::reload_if_changed(std::string* error) {
  std::lock_guard lk(write_mu_);
  if (stat_stamp() == stamp_ && !racy_) return std::nullopt;
  return load_locked(error);
}

std::string PasswordFile::digest(std::string_view user, std::string_view password) const {
  std::string data;
  data.reserve(user.size() + 1 + password.size());
  data.append(user).push_back('\0');
  data.append(password);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), cache_key_.data(), static_cast<int>(cache_key_.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  OPENSSL_cleanse(data.data(), data.size());
  return std::string(reinterpret_cast<char*>(out), len);
}

bool PasswordFile::verify(std::string_view user, std::string_view password) {
  auto table = table_.load();
  auto it = table->users.find(std::string(user));
  if (it == table->users.end()) return false;
  const std::string& stored = it->second;
  const std::string d = digest(user, password);
  {
    std::lock_guard lk(cache_mu_);
    auto c = verified_.find(it->first);
    if (c != verified_.end() && c->second.hash == stored && c->second.digest.size() == d.size() &&
        CRYPTO_memcmp(c->second.digest.data(), d.data(), d.size()) == 0)
      return true;
  }
  if (!util::verify_password(password, stored)) return false;
  std::lock_guard lk(cache_mu_);
  // Only if that hash is still the user's: a reload between the check and here must not leave an
  // entry for a table that is gone (harmless anyway, as an entry only matches its own hash).
  auto now = table_.load();
  auto still = now->users.find(it->first);
  if (still != now->users.end() && still->second == stored) verified_[it->first] = Verified{stored, d};
  return true;
}

bool PasswordFile::contains(std::string_view user) const {
  auto t = table_.load();
  return t->users.count(std::string(user)) > 0;
}

std::size_t PasswordFile::size() const { return table_.load()->users.size(); }

std::vector<std::string> PasswordFile::list() const {
  auto t = table_.load();
  std::vector<std::string> names;
  names.reserve(t->users.size());
  for (const auto& [name, hash] : t->users) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

std::size_t PasswordFile::cached_users() const {
  std::lock_guard lk(cache_mu_);
  return verified_.size();
}

bool PasswordFile::rewrite_locked(const std::string& user, const std::optional<std::string>& new_hash,
                                  bool must_exist, bool must_not_exist, std::string* error) {
  std::string text;
  Stamp stamp;
  auto r = read_locked(text, stamp, error);
  if (r == Read::failed) return false;
  bool exists = false;
  std::string out;
  out.reserve(text.size() + user.size() + 128);
  bool replaced = false;
  for (auto raw : split_lines(text)) {
    auto l = parse_line(raw);
    // Every line naming the user (a malformed one too) is that user's: the first is replaced by
    // the new entry, the others go.
    if (l.kind != Line::Kind::skip && l.user == user) {
      if (l.kind == Line::Kind::entry) exists = true;
      if (new_hash && !replaced) {
        out.append(user).append(":").append(*new_hash).push_back('\n');
        replaced = true;
      }
      continue;
    }
    out.append(raw).push_back('\n');
  }
  if (must_exist && !exists) {
    if (error) *error = "no such user: " + user;
    return false;
  }
  if (must_not_exist && exists) {
    if (error) *error = "user already exists: " + user;
    return false;
  }
  if (new_hash && !replaced) out.append(user).append(":").append(*new_hash).push_back('\n');

  struct stat before {};
  const bool had_file = r == Read::ok && ::stat(path_.c_str(), &before) == 0;
  if (!util::write_file_atomically(path_, out, error)) return false;
  if (had_file) ::chmod(path_.c_str(), before.st_mode & 07777);  // keep the operator's permissions

  // What we wrote is what readers use from now on.
  std::string check;
  Stamp written;
  if (read_locked(check, written, nullptr) == Read::ok) {
    stamp_ = written;
    racy_ = now_ns() - std::max(written.mtime_ns, written.ctime_ns) < kRacyWindowNs;
  } else {
    stamp_ = Stamp{};
    racy_ = true;
  }
  auto t = std::make_shared<Table>();
  t->users = parse_password_text(out, nullptr);
  t->text = std::move(out);
  install_locked(std::move(t));
  return true;
}

bool PasswordFile::add(const std::string& user, std::string_view password, std::string* error, unsigned iterations) {
  if (!valid_username(user, error)) return false;
  if (contains(user)) {  // cheap early answer; re-checked against the file under the lock
    if (error) *error = "user already exists: " + user;
    return false;
  }
  auto hash = util::hash_password(password, iterations);
  std::lock_guard lk(write_mu_);
  return rewrite_locked(user, hash, false, true, error);
}

bool PasswordFile::set_password(const std::string& user, std::string_view password, std::string* error,
                                unsigned iterations) {
  if (!valid_username(user, error)) return false;
  auto hash = util::hash_password(password, iterations);
  std::lock_guard lk(write_mu_);
  return rewrite_locked(user, hash, true, false, error);
}

bool PasswordFile::remove(const std::string& user, std::string* error) {
  if (!valid_username(user, error)) return false;
  std::lock_guard lk(write_mu_);
  return rewrite_locked(user, std::nullopt, true, false, error);
}

}  // namespace tidemq::auth
