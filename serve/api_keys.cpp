#include "serve/api_keys.h"

#include "core/error.h"

#include <cctype>
#include <fstream>
#include <map>
#include <sstream>

namespace swarm {
namespace {

constexpr size_t kMinKeyLength = 16;
constexpr size_t kMaxKeyLength = 256;
constexpr size_t kMaxNameLength = 64;

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::vector<std::string> fields(const std::string& line) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && isSpace(line[i])) ++i;
        const size_t start = i;
        while (i < line.size() && !isSpace(line[i])) ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

std::string checkKey(const std::string& key) {
    if (key.size() < kMinKeyLength)
        return "the key is " + std::to_string(key.size()) + " characters; use at least " +
               std::to_string(kMinKeyLength) + " (e.g. from `openssl rand -hex 24`)";
    if (key.size() > kMaxKeyLength) return "the key is longer than " + std::to_string(kMaxKeyLength) + " characters";
    for (unsigned char c : key)
        if (c < 0x21 || c > 0x7e) return "the key has a character that is not visible ASCII";
    return "";
}

std::string checkName(const std::string& name) {
    if (name.size() > kMaxNameLength) return "the name is longer than " + std::to_string(kMaxNameLength) + " characters";
    for (unsigned char c : name)
        if (!std::isalnum(c) && c != '.' && c != '_' && c != '-')
            return "the name '" + name + "' has a character outside [A-Za-z0-9._-]";
    return "";
}

} // namespace

bool constantTimeEquals(std::string_view a, std::string_view b) {
    // Every byte of a is looked at whatever b holds; volatile keeps the compiler from turning
    // the loop into an early exit.
    volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < a.size(); ++i) {
        const unsigned char other = b.empty() ? 0 : static_cast<unsigned char>(b[i % b.size()]);
        diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(a[i]) ^ other));
    }
    return diff == 0;
}

std::string_view bearerToken(std::string_view authorization) {
    static constexpr std::string_view scheme = "bearer";
    if (authorization.size() <= scheme.size() || !isSpace(authorization[scheme.size()])) return {};
    for (size_t i = 0; i < scheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i]) return {};
    std::string_view token = authorization.substr(scheme.size());
    while (!token.empty() && isSpace(token.front())) token.remove_prefix(1);
    while (!token.empty() && isSpace(token.back())) token.remove_suffix(1);
    return token;
}

ApiKeys ApiKeys::parse(const std::string& text, const std::string& where) {
    ApiKeys out;
    std::map<std::string, int> keyLines, nameLines;
    std::istringstream in(text);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        const std::vector<std::string> f = fields(line);
        if (f.empty() || f[0][0] == '#') continue;
        const std::string at = where + ":" + std::to_string(number) + ": ";
        if (f.size() > 2) throw Error(at + "expected KEY [NAME], found " + std::to_string(f.size()) + " fields");
        ApiKey k;
        k.key = f[0];
        k.name = f.size() == 2 ? f[1] : "line-" + std::to_string(number);
        if (const std::string why = checkKey(k.key); !why.empty()) throw Error(at + why);
        if (const std::string why = checkName(k.name); !why.empty()) throw Error(at + why);
        if (auto it = keyLines.find(k.key); it != keyLines.end())
            throw Error(at + "the same key is on line " + std::to_string(it->second));
        if (auto it = nameLines.find(k.name); it != nameLines.end())
            throw Error(at + "the name '" + k.name + "' is also on line " + std::to_string(it->second));
        keyLines[k.key] = number;
        nameLines[k.name] = number;
        out.keys_.push_back(std::move(k));
    }
    if (out.keys_.empty()) throw Error(where + ": no API key in the file (one key per line: KEY [NAME])");
    return out;
}

ApiKeys ApiKeys::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot read the API key file");
    std::stringstream ss;
    ss << in.rdbuf();
    return parse(ss.str(), path);
}

std::vector<std::string> ApiKeys::names() const {
    std::vector<std::string> out;
    for (const ApiKey& k : keys_) out.push_back(k.name);
    return out;
}

const ApiKey* ApiKeys::match(std::string_view authorization) const {
    const std::string_view token = bearerToken(authorization);
    if (token.empty()) return nullptr;
    const ApiKey* found = nullptr;
    for (const ApiKey& k : keys_)                 // no early exit: every key is compared
        if (constantTimeEquals(token, k.key)) found = &k;
    return found;
}

} // namespace swarm
