// A zip archive of stored (uncompressed) members: local headers and data, then the central directory, then
// its end record (PKWARE's APPNOTE 4.3); little-endian integers throughout.
#include "cscrub/io/npz.hpp"

#include <array>
#include <cstdint>
#include <limits>

#include "cscrub/error.hpp"

namespace cscrub::io {
namespace {

uint32_t crc32(std::string_view bytes) {
  static constexpr std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> table{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t value = i;
      for (int bit = 0; bit < 8; ++bit) value = (value & 1) != 0 ? 0xEDB88320u ^ (value >> 1) : value >> 1;
      table[i] = value;
    }
    return table;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (const char byte : bytes) crc = kTable[(crc ^ static_cast<uint8_t>(byte)) & 0xFFu] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

void put16(std::string& out, uint64_t value) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}
void put32(std::string& out, uint64_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

constexpr uint16_t kVersion = 20;        // 2.0: what stored members need
constexpr uint16_t kDosDate = (1 << 5) | 1;  // 1980-01-01, the earliest date zip can say, at 00:00

// The fields a local header and its central directory entry share, from "version needed" to the extra length.
void common_fields(std::string& out, uint32_t crc, uint64_t size, size_t name_length) {
  put16(out, kVersion);
  put16(out, 0);  // flags
  put16(out, 0);  // stored
  put16(out, 0);  // time
  put16(out, kDosDate);
  put32(out, crc);
  put32(out, size);  // compressed
  put32(out, size);  // uncompressed
  put16(out, name_length);
  put16(out, 0);  // extra field
}

}  // namespace

std::string npz_bytes(const std::vector<NpzMember>& members, const std::string& what) {
  constexpr uint64_t kLimit = std::numeric_limits<uint32_t>::max();
  if (members.size() >= 0xFFFF)
    throw Error(what + ": " + std::to_string(members.size()) + " arrays are more than an .npz without zip64 holds");
  std::string archive, directory;
  for (const NpzMember& member : members) {
    const std::string name = member.name + ".npy";
    const uint64_t offset = archive.size();
    if (member.npy.size() >= kLimit || offset + 30 + name.size() + member.npy.size() >= kLimit)
      throw Error(what + ": the arrays take 4 GiB or more, more than an .npz without zip64 holds",
                  "save fewer hook points or fewer prompts at once");
    const uint32_t crc = crc32(member.npy);
    put32(archive, 0x04034b50);
    common_fields(archive, crc, member.npy.size(), name.size());
    archive += name;
    archive += member.npy;

    put32(directory, 0x02014b50);
    put16(directory, kVersion);  // made by: MS-DOS attributes, version 2.0
    common_fields(directory, crc, member.npy.size(), name.size());
    put16(directory, 0);  // comment
    put16(directory, 0);  // disk
    put16(directory, 0);  // internal attributes
    put32(directory, 0);  // external attributes
    put32(directory, offset);
    directory += name;
  }
  const uint64_t directory_offset = archive.size();
  archive += directory;
  put32(archive, 0x06054b50);
  put16(archive, 0);  // this disk
  put16(archive, 0);  // the directory's disk
  put16(archive, members.size());
  put16(archive, members.size());
  put32(archive, directory.size());
  put32(archive, directory_offset);
  put16(archive, 0);  // comment
  return archive;
}

}  // namespace cscrub::io
