#pragma once
// Small generic helpers shared by the tests (header-only, no Qt).
#include "core/error.h"

#include <fstream>
#include <functional>
#include <string>

namespace swarm::test {

// The message of the swarm::Error that fn throws; empty when it throws none.
inline std::string errorOf(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// Writes `bytes` to `path` as they are (binary), replacing the file.
inline void writeFile(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes.data(), std::streamsize(bytes.size()));
}

} // namespace swarm::test
