// Unicode normalization form C (canonical composition), the normalizer of Hugging Face tokenizers such as
// GPT-NeoX's ("normalizer": {"type": "NFC"}), through ICU.
#pragma once
#include <string>
#include <string_view>

namespace cscrub::io {

// `utf8` (valid UTF-8) in NFC. ASCII and text already in NFC come back unchanged without a conversion.
std::string to_nfc(std::string_view utf8);

}  // namespace cscrub::io
