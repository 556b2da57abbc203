// Opening the files cscrub reads: only regular files (a FIFO would block the reader forever, /dev/zero
// never ends, a directory reads as nothing), and a file read whole only within its format's size limit,
// checked before a byte is read. Every reader goes through here.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace cscrub::io {

// A format's name, for messages, and the largest file of it that is read.
struct InputLimit {
  std::string_view format;
  uint64_t max_bytes;
};

// The limits, far above any legitimate file (README, "Bad input and reproducibility", lists them).
namespace input_limits {
inline constexpr uint64_t kMiB = uint64_t{1} << 20;
inline constexpr InputLimit hypothesis{"hypothesis file", 4 * kMiB};      // a few KB in practice
inline constexpr InputLimit task_file{"task file", 4 * kMiB};             // the IOI vocabulary: 3 KB
inline constexpr InputLimit model_config{"model config", 4 * kMiB};       // config.json: 1 KB
inline constexpr InputLimit tokenizer_file{"tokenizer file", 256 * kMiB}; // GPT-2's encoder.json: 1 MB
inline constexpr InputLimit run_record{"result file", 64 * kMiB};         // a run's --json: 10 KB
inline constexpr InputLimit dataset{"dataset file", 4096 * kMiB};         // 10^6 prompts: ~400 MB
inline constexpr InputLimit npy_array{".npy file", 4096 * kMiB};
inline constexpr InputLimit pair_file{"pair file", 4096 * kMiB};          // like a dataset
inline constexpr InputLimit graph_json{"graph file", 512 * kMiB};         // GPT-2 small's 32,491 edges: ~5 MB
}  // namespace input_limits

// An open regular file, for readers that stream or map it (the safetensors weights, hashing). Throws
// cscrub::Error "PATH: cannot open the FORMAT: REASON", "PATH: is a directory, not a FORMAT" or "PATH: is
// not a regular file (it is a FIFO)", without ever blocking on a FIFO.
class InputFile {
 public:
  explicit InputFile(const std::filesystem::path& path, std::string_view format = "regular file");
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  int descriptor() const { return fd_; }
  uint64_t size() const { return size_; }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

// The whole file, refused as above, or when larger than `limit` ("PATH: 5000000 bytes, more than a
// hypothesis file may have (4 MiB)").
std::string read_input_file(const std::filesystem::path& path, const InputLimit& limit);

}  // namespace cscrub::io
