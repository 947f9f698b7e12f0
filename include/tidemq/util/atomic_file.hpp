// Replace a file atomically: write <path>.tmp, fsync it, rename it over <path>, fsync the
// directory (mosquitto's persist_write.c pattern). Readers see the old or the new file, never half
// of one; a crash before the rename leaves the old file and a stray .tmp. Public, so that
// plugins (the evacuation file) use the same code as the broker.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace tidemq::util {

// The temporary file write_file_atomically uses for `path`.
std::filesystem::path temp_path_for(const std::filesystem::path& path);

// Creates missing parent directories. On failure returns false and sets *error (if given) to a
// message naming the file and the OS error.
bool write_file_atomically(const std::filesystem::path& path, std::string_view contents, std::string* error);

// Removes `path` (absent is fine) and fsyncs its directory.
bool remove_file_durably(const std::filesystem::path& path, std::string* error);

}  // namespace tidemq::util
