// Ranks over MPI: MPI_COMM_WORLD, joined when a launcher started the process (a process started alone stays a
// single process and never initialises MPI). Messages of any length: a length, then chunks of at most 1 GiB
// (MPI counts are ints).
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "cscrub/parallel/ranks.hpp"

namespace cscrub::parallel {
namespace {

constexpr uint64_t kChunk = uint64_t{1} << 30;
constexpr int kTag = 22;

void send_bytes(std::string_view bytes, int to, MPI_Comm comm) {
  const uint64_t length = bytes.size();
  MPI_Send(&length, 1, MPI_UINT64_T, to, kTag, comm);
  for (uint64_t at = 0; at < length; at += kChunk)
    MPI_Send(bytes.data() + at, static_cast<int>(std::min(kChunk, length - at)), MPI_BYTE, to, kTag, comm);
}

std::string receive_bytes(int from, MPI_Comm comm) {
  uint64_t length = 0;
  MPI_Recv(&length, 1, MPI_UINT64_T, from, kTag, comm, MPI_STATUS_IGNORE);
  std::string bytes(length, '\0');
  for (uint64_t at = 0; at < length; at += kChunk)
    MPI_Recv(bytes.data() + at, static_cast<int>(std::min(kChunk, length - at)), MPI_BYTE, from, kTag, comm,
             MPI_STATUS_IGNORE);
  return bytes;
}

std::string broadcast_from(int root, std::string bytes, MPI_Comm comm) {
  uint64_t length = bytes.size();
  MPI_Bcast(&length, 1, MPI_UINT64_T, root, comm);
  bytes.resize(length);
  for (uint64_t at = 0; at < length; at += kChunk)
    MPI_Bcast(bytes.data() + at, static_cast<int>(std::min(kChunk, length - at)), MPI_BYTE, root, comm);
  return bytes;
}

}  // namespace

struct Ranks::Communicator {
  MPI_Comm world = MPI_COMM_WORLD;
};

Ranks::Ranks() = default;

Ranks::Ranks(int& argc, char**& argv) {
  if (!started_by_launcher()) return;
  int provided = 0;
  // Only the main thread calls MPI; OpenMP's threads compute between the calls.
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  communicator_ = std::make_unique<Communicator>();
  MPI_Comm_rank(communicator_->world, &rank_);
  MPI_Comm_size(communicator_->world, &size_);
  MPI_Comm machine;
  MPI_Comm_split_type(communicator_->world, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &machine);
  MPI_Comm_size(machine, &local_size_);
  MPI_Comm_free(&machine);
}

Ranks::~Ranks() {
  if (communicator_) MPI_Finalize();
}

bool Ranks::built_with_mpi() { return true; }

void Ranks::gather_to_root(const std::string& bytes,
                           const std::function<void(int rank, std::string_view bytes)>& take) const {
  if (!communicator_) return take(0, bytes);
  if (rank_ != 0) return send_bytes(bytes, 0, communicator_->world);
  take(0, bytes);
  for (int from = 1; from < size_; ++from) take(from, receive_bytes(from, communicator_->world));
}

std::string Ranks::broadcast(std::string bytes) const {
  if (!communicator_) return bytes;
  return broadcast_from(0, std::move(bytes), communicator_->world);
}

void Ranks::raise_any_failure(const std::string& message, const std::string& hint) const {
  if (!communicator_) {
    if (!message.empty()) throw RankFailure(message, hint, 0);
    return;
  }
  const int mine = message.empty() ? size_ : rank_;
  int first = size_;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, communicator_->world);
  if (first == size_) return;
  // The failing rank's message and hint, apart at the first NUL byte.
  const std::string both = broadcast_from(first, first == rank_ ? message + '\0' + hint : std::string(),
                                          communicator_->world);
  const size_t split = both.find('\0');
  const std::string what = both.substr(0, split), why = split == std::string::npos ? "" : both.substr(split + 1);
  throw RankFailure(first == 0 ? what : "rank " + std::to_string(first) + " of " + std::to_string(size_) + ": " + what,
                    why, first);
}

}  // namespace cscrub::parallel
