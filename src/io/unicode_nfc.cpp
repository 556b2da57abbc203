#include "cscrub/io/unicode_nfc.hpp"

#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <algorithm>
#include <vector>

#include "cscrub/error.hpp"

namespace cscrub::io {
namespace {

[[noreturn]] void fail(UErrorCode code) { throw Error(std::string("Unicode normalization (NFC) failed: ") + u_errorName(code)); }

std::vector<UChar> to_utf16(std::string_view utf8) {
  UErrorCode code = U_ZERO_ERROR;
  int32_t length = 0;
  u_strFromUTF8(nullptr, 0, &length, utf8.data(), static_cast<int32_t>(utf8.size()), &code);
  if (code != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(code)) fail(code);
  std::vector<UChar> utf16(static_cast<size_t>(length));
  code = U_ZERO_ERROR;
  u_strFromUTF8(utf16.data(), length, nullptr, utf8.data(), static_cast<int32_t>(utf8.size()), &code);
  if (U_FAILURE(code)) fail(code);
  return utf16;
}

}  // namespace

std::string to_nfc(std::string_view utf8) {
  if (std::all_of(utf8.begin(), utf8.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return std::string(utf8);
  if (utf8.size() > (1u << 30)) throw Error("text too long to normalize");
  UErrorCode code = U_ZERO_ERROR;
  const UNormalizer2* nfc = unorm2_getNFCInstance(&code);
  if (U_FAILURE(code)) fail(code);
  const std::vector<UChar> utf16 = to_utf16(utf8);
  const auto length = static_cast<int32_t>(utf16.size());
  if (unorm2_isNormalized(nfc, utf16.data(), length, &code) && U_SUCCESS(code)) return std::string(utf8);
  code = U_ZERO_ERROR;
  const int32_t needed = unorm2_normalize(nfc, utf16.data(), length, nullptr, 0, &code);
  if (code != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(code)) fail(code);
  std::vector<UChar> normalized(static_cast<size_t>(needed));
  code = U_ZERO_ERROR;
  unorm2_normalize(nfc, utf16.data(), length, normalized.data(), needed, &code);
  if (U_FAILURE(code)) fail(code);
  int32_t bytes = 0;
  code = U_ZERO_ERROR;
  u_strToUTF8(nullptr, 0, &bytes, normalized.data(), needed, &code);
  if (code != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(code)) fail(code);
  std::string result(static_cast<size_t>(bytes), '\0');
  code = U_ZERO_ERROR;
  u_strToUTF8(result.data(), bytes, nullptr, normalized.data(), needed, &code);
  if (U_FAILURE(code)) fail(code);
  return result;
}

}  // namespace cscrub::io
