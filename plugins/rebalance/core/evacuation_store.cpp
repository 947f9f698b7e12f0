#include "rebalance/core/evacuation_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tidemq/util/atomic_file.hpp"

namespace tidemq::rebalance {

namespace {

bool valid_rate(std::uint64_t v) { return v >= 1 && v <= kMaxInteger; }
bool valid_wait(std::int64_t s) { return s >= 0 && static_cast<std::uint64_t>(s) <= kMaxDurationSeconds; }

std::optional<std::uint32_t> rate_of(const nlohmann::json& v) {
  if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<std::int64_t>() < 1)) return std::nullopt;
  const auto u = v.get<std::uint64_t>();
  if (!valid_rate(u)) return std::nullopt;
  return static_cast<std::uint32_t>(u);
}

std::optional<std::chrono::seconds> wait_of(const nlohmann::json& v) {
  if (!v.is_number_integer()) return std::nullopt;
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > kMaxDurationSeconds) return std::nullopt;
  const auto s = v.get<std::int64_t>();
  if (!valid_wait(s)) return std::nullopt;
  return std::chrono::seconds(s);
}

// The file's text, or why it cannot be had. Only a regular file (a symlink to one is fine) is
// read, and at most kMaxEvacuationFileSize of it: opened non-blocking, so a FIFO cannot hang the
// start, and checked after open (fstat), so a swap between a check and the open cannot either.
std::optional<std::string> read_bounded(const std::filesystem::path& path, std::string& why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    why = std::strerror(errno);
    return std::nullopt;
  }
  struct stat st {};
  std::optional<std::string> text;
  if (::fstat(fd, &st) != 0) {
    why = std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    why = "not a regular file";
  } else if (st.st_size > static_cast<off_t>(kMaxEvacuationFileSize)) {
    why = fmt::format("larger than {} bytes", kMaxEvacuationFileSize);
  } else {
    std::string buf(kMaxEvacuationFileSize + 1, '\0');
    std::size_t got = 0;
    while (got < buf.size()) {
      const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        why = std::strerror(errno);
        break;
      }
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (why.empty() && got > kMaxEvacuationFileSize) why = fmt::format("larger than {} bytes", kMaxEvacuationFileSize);
    if (why.empty()) {
      buf.resize(got);
      text = std::move(buf);
    }
  }
  ::close(fd);
  return text;
}

}  // namespace

EvacuationStore::EvacuationStore(std::filesystem::path data_dir)
    : path_(std::move(data_dir) / std::string(kEvacuationFileName)) {}

std::optional<EvacuationStore::Loaded> EvacuationStore::load() const {
  // Anything under the name, even a dangling symlink, says an evacuation was under way: one that
  // cannot be read resumes with the defaults (refusing clients, and saying why) rather than
  // silently serving.
  std::error_code ec;
  const auto entry = std::filesystem::symlink_status(path_, ec);
  if (entry.type() == std::filesystem::file_type::not_found) return std::nullopt;

  Loaded out;
  const std::string file = path_.string();
  std::string why;
  auto text = read_bounded(path_, why);
  if (!text) {
    out.warnings.push_back(fmt::format("cannot read {} ({}); resuming the evacuation with default options", file, why));
    return out;
  }
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    out.warnings.push_back(fmt::format("{} is not a JSON object; resuming the evacuation with default options", file));
    return out;
  }
  auto bad = [&](std::string_view key) {
    out.warnings.push_back(fmt::format("{}: invalid {}; using the default", file, key));
  };
  EvacuationOptions& o = out.options;
  if (auto it = j.find("server_reference"); it != j.end()) {
    if (it->is_string()) o.server_reference = it->get<std::string>();
    else if (!it->is_null()) bad("server_reference");
  }
  if (auto it = j.find("conn_evict_rate"); it != j.end()) {
    if (auto v = rate_of(*it)) o.conn_evict_rate = *v;
    else bad("conn_evict_rate");
  }
  if (auto it = j.find("sess_evict_rate"); it != j.end()) {
    if (auto v = rate_of(*it)) o.sess_evict_rate = *v;
    else bad("sess_evict_rate");
  }
  if (auto it = j.find("wait_takeover"); it != j.end()) {
    if (auto v = wait_of(*it)) o.wait_takeover = *v;
    else bad("wait_takeover");
  }
  if (auto it = j.find("wait_health_check"); it != j.end()) {
    if (auto v = wait_of(*it)) o.wait_health_check = *v;
    else bad("wait_health_check");
  }
  if (auto it = j.find("redirect_policy"); it != j.end()) o.redirect_least_loaded = *it == "least_loaded";
  if (auto it = j.find("migrate_to"); it != j.end() && !it->is_null()) {
    bool ok = it->is_array() && !it->empty();
    if (ok) {
      for (const auto& n : *it) ok = ok && n.is_string();
    }
    if (ok) o.migrate_to = it->get<std::vector<NodeId>>();
    else bad("migrate_to");
  }
  return out;
}

bool EvacuationStore::save(const EvacuationOptions& o, std::string* error) const {
  const bool ok = valid_rate(o.conn_evict_rate) && valid_rate(o.sess_evict_rate) &&
                  valid_wait(o.wait_takeover.count()) && valid_wait(o.wait_health_check.count()) &&
                  (!o.migrate_to || !o.migrate_to->empty());
  if (!ok) {
    if (error) *error = fmt::format("refusing to write {}: option out of range", path_.string());
    return false;
  }
  return util::write_file_atomically(path_, to_json(o).dump(2) + "\n", error);
}

bool EvacuationStore::clear(std::string* error) const {
  std::string ignored;
  util::remove_file_durably(util::temp_path_for(path_), &ignored);
  return util::remove_file_durably(path_, error);
}

}  // namespace tidemq::rebalance
