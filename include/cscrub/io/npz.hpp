// numpy's .npz format (what np.savez writes and np.load reads): a zip archive of .npy files, stored without
// compression; np.load(FILE)[name] gives the array named `name`.
#pragma once
#include <string>
#include <vector>

namespace cscrub::io {

struct NpzMember {
  std::string name;  // without ".npy"
  std::string npy;   // the .npy file's bytes (npy_bytes)
};

// The archive's bytes, members in the given order, with fixed timestamps (the same arrays, the same bytes).
// Throws cscrub::Error naming `what` (the file, for messages) when the archive would need zip64 (4 GiB or more, or
// 65,535 members or more).
std::string npz_bytes(const std::vector<NpzMember>& members, const std::string& what);

}  // namespace cscrub::io
