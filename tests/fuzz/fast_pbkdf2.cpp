// PBKDF2 with one round, for the fuzz targets that reach password checks (admin_http_fuzz,
// cluster_frame_fuzz). Linked with -Wl,--wrap=PKCS5_PBKDF2_HMAC: every call tidemq makes (hashing
// admin passwords, API key secrets and MQTT users, and checking them) runs one round instead of the
// 100 000 the hash says. Hashing and checking both go through here, so a right password still
// matches and a wrong one does not; only the cost changes: a guessed admin password or an added
// user took a few hundred milliseconds of the fuzzer's time, about all of it.
#include <openssl/evp.h>

extern "C" int __real_PKCS5_PBKDF2_HMAC(const char* pass, int passlen, const unsigned char* salt, int saltlen, int iter,
                                        const EVP_MD* digest, int keylen, unsigned char* out);

extern "C" int __wrap_PKCS5_PBKDF2_HMAC(const char* pass, int passlen, const unsigned char* salt, int saltlen, int iter,
                                        const EVP_MD* digest, int keylen, unsigned char* out) {
  return __real_PKCS5_PBKDF2_HMAC(pass, passlen, salt, saltlen, iter > 0 ? 1 : iter, digest, keylen, out);
}
