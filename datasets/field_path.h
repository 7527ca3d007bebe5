#pragma once
// A path to a value inside a record: `question`, `meta.source`, `chat[0].content`, `turns[-1]`
// (negative indices count from the end), `["odd key.with dots"].x`. A record that has the whole
// path text as one top-level key (a CSV column named "user.name") resolves to that key first.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace swarm {

class FieldPath {
public:
    FieldPath() = default;
    // Throws swarm::Error("bad field path '...': ...") on a syntax error.
    static FieldPath parse(std::string_view text);
    // A path of one top-level key, taken literally (no syntax).
    static FieldPath key(std::string_view name);

    const std::string& text() const { return text_; }
    // The first key of the path (the top-level column it reads), e.g. "chat" for chat[0].content.
    const std::string& rootKey() const { return root_; }
    bool empty() const { return segments_.empty(); }

    // The value at the path, or nullptr when any step is missing (absent key, index out of
    // range, or a step into something that is not an object/array).
    const nlohmann::json* resolve(const nlohmann::json& record) const;
    // Why resolve() returned nullptr, for messages: "key 'x' is absent", "chat has 0 elements"...
    std::string explainMissing(const nlohmann::json& record) const;

private:
    struct Segment {
        bool isIndex = false;
        std::string key;
        long long index = 0;
    };
    std::string text_;
    std::string root_;
    std::vector<Segment> segments_;
};

// "number", "array", "object", "boolean", "null", "string".
const char* jsonTypeName(const nlohmann::json& v);

} // namespace swarm
