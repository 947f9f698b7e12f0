#include "util/password_hash.hpp"

#include <charconv>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace tidemq::util {

namespace {

std::string to_hex(const unsigned char* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    s[2 * i] = kDigits[p[i] >> 4];
    s[2 * i + 1] = kDigits[p[i] & 0xF];
  }
  return s;
}

bool from_hex(std::string_view hex, std::vector<unsigned char>& out) {
  if (hex.size() % 2) return false;
  out.resize(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, v, 16);
    if (ec != std::errc() || p != hex.data() + 2 * i + 2) return false;
    out[i] = static_cast<unsigned char>(v);
  }
  return true;
}

std::vector<unsigned char> pbkdf2(std::string_view password, const std::vector<unsigned char>& salt, unsigned iterations) {
  std::vector<unsigned char> out(32);
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(), static_cast<int>(salt.size()),
                        static_cast<int>(iterations), EVP_sha256(), static_cast<int>(out.size()), out.data()) != 1)
    throw std::runtime_error("PBKDF2 failed");
  return out;
}

struct Parsed {
  unsigned iterations = 0;
  std::vector<unsigned char> salt;
  std::vector<unsigned char> hash;
};

bool parse(std::string_view stored, Parsed& p) {
  constexpr std::string_view kPrefix = "pbkdf2-sha256$";
  if (!stored.starts_with(kPrefix)) return false;
  stored.remove_prefix(kPrefix.size());
  auto d1 = stored.find('$');
  if (d1 == std::string_view::npos) return false;
  auto [ptr, ec] = std::from_chars(stored.data(), stored.data() + d1, p.iterations);
  if (ec != std::errc() || ptr != stored.data() + d1 || p.iterations == 0 || p.iterations > 10000000) return false;
  auto rest = stored.substr(d1 + 1);
  auto d2 = rest.find('$');
  if (d2 == std::string_view::npos) return false;
  return from_hex(rest.substr(0, d2), p.salt) && from_hex(rest.substr(d2 + 1), p.hash) && p.hash.size() == 32 &&
         !p.salt.empty();
}

}  // namespace

std::string random_token(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  return to_hex(buf.data(), buf.size());
}

std::string hash_password(std::string_view password, unsigned iterations) {
  std::vector<unsigned char> salt(16);
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  auto h = pbkdf2(password, salt, iterations);
  return fmt::format("pbkdf2-sha256${}${}${}", iterations, to_hex(salt.data(), salt.size()), to_hex(h.data(), h.size()));
}

bool verify_password(std::string_view password, std::string_view stored) {
  Parsed p;
  if (!parse(stored, p)) return false;
  auto h = pbkdf2(password, p.salt, p.iterations);
  return CRYPTO_memcmp(h.data(), p.hash.data(), h.size()) == 0;
}

bool is_password_hash(std::string_view stored) {
  Parsed p;
  return parse(stored, p);
}

}  // namespace tidemq::util
