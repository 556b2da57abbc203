// GPT-2's byte-level alphabet (OpenAI's bytes_to_unicode): every byte is written as one printable
// character, so vocab.json and merges.txt can spell any byte string. Printable Latin-1 bytes stand for
// themselves; the other 68 bytes (controls, space, NBSP, soft hyphen, ...) map in byte order to U+0100..U+0143
// (space is 'Ġ' U+0120, newline 'Ċ' U+010A).
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace cscrub::io {

char32_t byte_level_char(unsigned char byte);

// The bytes a token spelled in byte-level characters (UTF-8, as in vocab.json) stands for; nullopt if the
// spelling is not valid UTF-8 or contains a character outside the alphabet.
std::optional<std::string> byte_level_to_bytes(std::string_view spelling);

// The byte-level spelling (UTF-8) of raw bytes.
std::string bytes_to_byte_level(std::string_view bytes);

}  // namespace cscrub::io
