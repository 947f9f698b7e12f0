// Cluster link authentication: HMAC-SHA256 challenge–response on a shared cookie. Each side
// sends a fresh nonce and proves knowledge of the cookie by answering the other side's nonce;
// the cookie itself never crosses the wire.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tidemq::cluster {

inline constexpr std::size_t kNonceBytes = 32;
inline constexpr std::size_t kProofBytes = 32;

// 32 random bytes (RAND_bytes), raw. Throws std::runtime_error if the RNG fails.
std::string random_nonce();

// HMAC-SHA256(cookie, role + "\0" + nonce + "\0" + node_name), raw 32 bytes.
// role is "connect" or "accept" (so a proof cannot be reflected back to its sender).
std::string cookie_proof(std::string_view cookie, std::string_view role, std::string_view nonce,
                         std::string_view node_name);

// Constant time (CRYPTO_memcmp); false when sizes differ.
bool proofs_equal(std::string_view a, std::string_view b);

}  // namespace tidemq::cluster
