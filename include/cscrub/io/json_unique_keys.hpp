// JSON of model files, read so that a repeated key is noticed: nlohmann keeps the last of two equal keys
// of an object, so a config.json saying n_layer twice, or a safetensors header listing a tensor twice,
// would silently be read as whichever came last.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace cscrub::io {

// Parses `text` (nlohmann's exceptions, or a discarded value when !allow_exceptions, on bad syntax) and
// sets `duplicate_key` to the first key repeated within one object ("" when none is). Json: nlohmann::json, or
// nlohmann::ordered_json to keep the keys in the order written.
template <class Json = nlohmann::json>
Json parse_json_noting_duplicate_keys(std::string_view text, bool allow_exceptions, std::string& duplicate_key);

}  // namespace cscrub::io
