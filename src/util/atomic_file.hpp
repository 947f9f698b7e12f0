// Replace a file's contents atomically: write <path>.tmp, fsync, rename over <path>, fsync the
// directory (mosquitto's persist_write.c pattern). Readers see the old or the new file, never half.
#pragma once

#include <string>
#include <string_view>

namespace tidemq::util {

bool write_file_atomically(const std::string& path, std::string_view contents, std::string* error);

}  // namespace tidemq::util
