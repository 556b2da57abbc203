#include "cscrub/io/sha256.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

#include "cscrub/error.hpp"
#include "cscrub/io/input_file.hpp"

namespace cscrub::io {
namespace {

class Digest {
 public:
  Digest() : context_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    if (!context_ || EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1) throw Error("cannot start SHA-256");
  }
  void update(const char* data, size_t size) { EVP_DigestUpdate(context_.get(), data, size); }
  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    EVP_DigestFinal_ex(context_.get(), digest.data(), &length);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string text;
    for (unsigned int i = 0; i < length; ++i) {
      text += kHex[digest[i] >> 4];
      text += kHex[digest[i] & 15];
    }
    return text;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context_;
};

}  // namespace

std::string sha256_file(const std::filesystem::path& file) {
  const InputFile input(file);
  Digest digest;
  std::array<char, 1 << 16> buffer{};
  for (;;) {
    const ssize_t got = ::read(input.descriptor(), buffer.data(), buffer.size());
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error(file.string() + ": cannot read: " + std::strerror(errno));
    }
    digest.update(buffer.data(), static_cast<size_t>(got));
  }
  return digest.hex();
}

std::string sha256_text(std::string_view text) {
  Digest digest;
  digest.update(text.data(), text.size());
  return digest.hex();
}

}  // namespace cscrub::io
