#pragma once
// API keys for the server (`--api-key-file F`): requests present one as
// "Authorization: Bearer KEY"; the key's name goes into the request log and the metrics, the key
// itself never does.
//
// The file has one key per line, optionally followed by a name:
//     # comments and blank lines are ignored
//     sk-3f9a0c0e5b1d4e7a9c2b   alice
//     sk-77d1e0b6a4c94f0f8e3d              (unnamed: called "line-3")
// Keys are 16 to 256 visible ASCII characters (no spaces); names are 1 to 64 of [A-Za-z0-9._-].
// A key or name listed twice, a third field or a file without keys is an error naming the line.
#include <string>
#include <string_view>
#include <vector>

namespace swarm {

struct ApiKey {
    std::string name;
    std::string key;
};

class ApiKeys {
public:
    ApiKeys() = default;
    // Throws swarm::Error "<path>:<line>: ..." for a malformed line, "<path>: ..." when the file
    // cannot be read or holds no key.
    static ApiKeys load(const std::string& path);
    static ApiKeys parse(const std::string& text, const std::string& where);

    bool empty() const { return keys_.empty(); }
    size_t size() const { return keys_.size(); }
    std::vector<std::string> names() const;

    // The key an Authorization header value presents ("Bearer KEY"), or nullptr when it presents
    // none of them. Every key is compared, each in time that depends only on the presented
    // length, so the answer's timing tells nothing about how close a guess was.
    const ApiKey* match(std::string_view authorization) const;

private:
    std::vector<ApiKey> keys_;
};

// a == b, in time that depends on a's length only (never on where the bytes differ).
bool constantTimeEquals(std::string_view a, std::string_view b);

// The credentials of "Bearer CREDENTIALS" (scheme case-insensitive); empty when the header has
// another scheme or none.
std::string_view bearerToken(std::string_view authorization);

} // namespace swarm
