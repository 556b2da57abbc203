// Output files that are either complete or untouched: every file cscrub writes goes through
// write_file_atomically, so that a full disk, a file size limit, an error or a signal never leaves a
// truncated output or destroys the previous one.
#pragma once
#include <filesystem>
#include <string_view>

namespace cscrub::io {

// Replaces the file at `path` with `bytes` in one step: the bytes go to a temporary file in the same
// directory (unnamed where the file system allows it), which is flushed to disk (fsync) and renamed over
// `path`; the directory is synced after the rename. A symbolic link is followed: the file it names is
// replaced. On any failure the temporary file is removed, the previous file is untouched, and
// cscrub::Error names the path and the problem ("No space left on device", "File too large", ...).
// A read-only file is not replaced (EACCES), though the directory would allow it.
// An existing file that is not a regular file (a FIFO with a reader, /dev/null, a terminal) is written in
// place, as it cannot be replaced; a directory, or a FIFO that nobody reads, is refused.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

// For main(): makes every terminating signal the program does not already handle or ignore (SIGINT, SIGTERM,
// SIGHUP, SIGQUIT, SIGPIPE, SIGALRM, SIGXCPU, SIGUSR1, SIGUSR2) first remove the named temporary files of
// writes in progress, then take its default effect; and makes the file size limit's SIGXFSZ, unless
// handled or ignored already, fail the write (EFBIG: an error, the temporary file removed) instead of
// killing the program. A library leaves its host's signals alone, so only main() calls this.
void remove_temporary_files_on_signals();

namespace detail {

// What write_file_atomically does where the file system has no unnamed temporary files: a named one
// (".NAME.cscrub-PID-RANDOM.tmp"), registered for the signal handler. Public for its tests.
void write_file_through_named_temporary(const std::filesystem::path& path, std::string_view bytes);

// How many named temporary files exist now (registered, not yet renamed or removed), for tests.
int registered_temporary_names();

}  // namespace detail
}  // namespace cscrub::io
