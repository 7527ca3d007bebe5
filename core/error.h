#pragma once
// One exception type for every user-facing failure in the libraries. The message names what
// failed and where (file, tensor, field, line); the CLI prints it as one line, the GUI shows it.
#include <stdexcept>
#include <string>

namespace swarm {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

} // namespace swarm
