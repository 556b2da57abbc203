#include "cscrub/io/bpe_byte_level.hpp"

#include <array>
#include <cstdint>

#include "cscrub/io/bpe_utf8.hpp"

namespace cscrub::io {
namespace {

constexpr bool stands_for_itself(unsigned byte) {
  return (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF);
}

constexpr std::array<char32_t, 256> make_byte_to_char() {
  std::array<char32_t, 256> table{};
  char32_t next_shifted = 0x100;
  for (unsigned byte = 0; byte < 256; ++byte) {
    table[byte] = stands_for_itself(byte) ? byte : next_shifted++;
  }
  return table;
}

constexpr std::array<char32_t, 256> kByteToChar = make_byte_to_char();
constexpr char32_t kAlphabetEnd = 0x100 + 68;  // the characters used are all below this

constexpr std::array<int16_t, kAlphabetEnd> make_char_to_byte() {
  std::array<int16_t, kAlphabetEnd> table{};
  for (auto& entry : table) entry = -1;
  for (unsigned byte = 0; byte < 256; ++byte) table[kByteToChar[byte]] = static_cast<int16_t>(byte);
  return table;
}

constexpr std::array<int16_t, kAlphabetEnd> kCharToByte = make_char_to_byte();
static_assert(make_byte_to_char()[255] == 0xFF && make_byte_to_char()[' '] == 0x120 &&
              make_byte_to_char()[0xAD] == 0x143);

}  // namespace

char32_t byte_level_char(unsigned char byte) { return kByteToChar[byte]; }

std::optional<std::string> byte_level_to_bytes(std::string_view spelling) {
  std::string bytes;
  bytes.reserve(spelling.size());
  size_t offset = 0;
  while (offset < spelling.size()) {
    auto code_point = decode_utf8(spelling, offset);
    if (!code_point || *code_point >= kAlphabetEnd || kCharToByte[*code_point] < 0) return std::nullopt;
    bytes += static_cast<char>(kCharToByte[*code_point]);
  }
  return bytes;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string spelling;
  spelling.reserve(bytes.size() * 2);
  for (char byte : bytes) append_utf8(spelling, kByteToChar[static_cast<unsigned char>(byte)]);
  return spelling;
}

}  // namespace cscrub::io
