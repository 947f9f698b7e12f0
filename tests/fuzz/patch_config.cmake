# cmake -DIN=src/app/config.cpp -DOUT=<copy> -P patch_config.cmake
# Writes a copy of config.cpp that clang 14 compiles: lambdas there capture structured bindings by
# reference (C++20; clang accepts it from version 16), so each such binding is first copied into an
# ordinary reference on the same line (line numbers, and so stack traces, stay those of config.cpp).
# A pattern that is no longer there is left alone: once config.cpp avoids the capture, the copy is
# the file itself.
file(READ "${IN}" text)

string(FIND "${text}" "for (const auto& [k, v] : *t) {" at)
if(at GREATER -1)
  string(REPLACE "for (const auto& [k, v] : *t) {"
                 "for (const auto& [k, v_binding] : *t) { const auto& v = v_binding;" text "${text}")
endif()

string(FIND "${text}" "for (auto [kind, prefix] : {" at)
if(at GREATER -1)
  string(REPLACE "for (auto [kind, prefix] : {" "for (auto [kind, prefix_binding] : {" text "${text}")
  string(REPLACE "      if (!key.starts_with(prefix) ||"
                 "      const std::string& prefix = prefix_binding; if (!key.starts_with(prefix) ||" text "${text}")
endif()

file(WRITE "${OUT}" "#line 1 \"${IN}\"\n${text}")
