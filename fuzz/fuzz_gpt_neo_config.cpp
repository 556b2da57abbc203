// libFuzzer target: a GPT-Neo config.json, loaded with fuzz/data/tiny_gpt_neo/model.safetensors (properties:
// family_config_fuzzer.hpp). Only cscrub::Error may escape.
#include "family_config_fuzzer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cscrub::fuzz::fuzz_family_config("tiny_gpt_neo", data, size);
}
