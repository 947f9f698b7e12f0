#include "cluster/cookie_auth.hpp"

#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace tidemq::cluster {

std::string random_nonce() {
  std::string nonce(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(nonce.size())) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return nonce;
}

std::string cookie_proof(std::string_view cookie, std::string_view role, std::string_view nonce,
                         std::string_view node_name) {
  std::string msg;
  msg.reserve(role.size() + nonce.size() + node_name.size() + 2);
  msg.append(role);
  msg.push_back('\0');
  msg.append(nonce);
  msg.push_back('\0');
  msg.append(node_name);

  // HMAC() wants a non-null key pointer even for an empty key.
  static const unsigned char kEmpty = 0;
  const void* key = cookie.empty() ? static_cast<const void*>(&kEmpty) : static_cast<const void*>(cookie.data());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (!HMAC(EVP_sha256(), key, static_cast<int>(cookie.size()), reinterpret_cast<const unsigned char*>(msg.data()),
            msg.size(), md, &md_len) ||
      md_len != kProofBytes)
    throw std::runtime_error("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(md), md_len);
}

bool proofs_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tidemq::cluster
