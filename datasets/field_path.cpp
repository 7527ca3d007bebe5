#include "datasets/field_path.h"

#include "core/error.h"

namespace swarm {

using nlohmann::json;

const char* jsonTypeName(const json& v) {
    switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    case json::value_t::binary: return "binary";
    case json::value_t::discarded: return "discarded";
    default: return "number";
    }
}

FieldPath FieldPath::parse(std::string_view text) {
    FieldPath p;
    p.text_ = std::string(text);
    auto fail = [&](size_t pos, const std::string& why) -> Error {
        return Error("bad field path '" + p.text_ + "' at position " + std::to_string(pos + 1) + ": " + why);
    };
    if (text.empty()) throw Error("bad field path: it is empty");
    size_t i = 0;
    bool expectName = true;      // at the start or after '.'
    while (i < text.size()) {
        const char c = text[i];
        if (c == '[') {
            ++i;
            if (i < text.size() && text[i] == '"') {
                // ["quoted key"] with \" and \\ escapes
                ++i;
                std::string key;
                bool closed = false;
                while (i < text.size()) {
                    char k = text[i++];
                    if (k == '\\' && i < text.size()) { key += text[i++]; continue; }
                    if (k == '"') { closed = true; break; }
                    key += k;
                }
                if (!closed) throw fail(i, "unterminated quoted key");
                if (i >= text.size() || text[i] != ']') throw fail(i, "expected ']' after the quoted key");
                ++i;
                p.segments_.push_back(Segment{false, key, 0});
            } else {
                size_t start = i;
                bool negative = false;
                if (i < text.size() && text[i] == '-') { negative = true; ++i; }
                long long v = 0;
                size_t digits = 0;
                while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
                    if (v > 100000000000LL) throw fail(i, "index too large");
                    v = v * 10 + (text[i] - '0');
                    ++i;
                    ++digits;
                }
                if (digits == 0) throw fail(start, "expected an index (a number) or a quoted key inside [ ]");
                if (i >= text.size() || text[i] != ']') throw fail(i, "expected ']'");
                ++i;
                p.segments_.push_back(Segment{true, "", negative ? -v : v});
            }
            expectName = false;
            continue;
        }
        if (c == '.') {
            if (expectName) throw fail(i, "empty name before '.'");
            expectName = true;
            ++i;
            continue;
        }
        if (c == ']') throw fail(i, "unmatched ']'");
        if (!expectName) throw fail(i, "expected '.' or '[' before '" + std::string(1, c) + "'");
        size_t start = i;
        while (i < text.size() && text[i] != '.' && text[i] != '[' && text[i] != ']') ++i;
        p.segments_.push_back(Segment{false, std::string(text.substr(start, i - start)), 0});
        expectName = false;
    }
    if (expectName) throw fail(text.size() - 1, "the path ends with '.'");
    if (p.segments_.front().isIndex) throw fail(0, "a path starts with a field name, not an index");
    p.root_ = p.segments_.front().key;
    return p;
}

FieldPath FieldPath::key(std::string_view name) {
    if (name.empty()) throw Error("bad field path: it is empty");
    FieldPath p;
    p.text_ = std::string(name);
    p.root_ = p.text_;
    p.segments_.push_back(Segment{false, p.text_, 0});
    return p;
}

const json* FieldPath::resolve(const json& record) const {
    if (segments_.empty()) return nullptr;
    if (record.is_object() && segments_.size() > 1) {
        auto whole = record.find(text_);
        if (whole != record.end()) return &*whole;
    }
    const json* cur = &record;
    for (const Segment& s : segments_) {
        if (s.isIndex) {
            if (!cur->is_array()) return nullptr;
            long long n = (long long)cur->size();
            long long idx = s.index < 0 ? n + s.index : s.index;
            if (idx < 0 || idx >= n) return nullptr;
            cur = &(*cur)[size_t(idx)];
        } else {
            if (!cur->is_object()) return nullptr;
            auto it = cur->find(s.key);
            if (it == cur->end()) return nullptr;
            cur = &*it;
        }
    }
    return cur;
}

std::string FieldPath::explainMissing(const json& record) const {
    const json* cur = &record;
    std::string where;
    for (const Segment& s : segments_) {
        if (s.isIndex) {
            if (!cur->is_array()) return where + " is " + jsonTypeName(*cur) + ", not an array";
            long long n = (long long)cur->size();
            long long idx = s.index < 0 ? n + s.index : s.index;
            if (idx < 0 || idx >= n)
                return where + " has " + std::to_string(n) + " element" + (n == 1 ? "" : "s") + ", no index " +
                       std::to_string(s.index);
            cur = &(*cur)[size_t(idx)];
            where += "[" + std::to_string(s.index) + "]";
        } else {
            if (!cur->is_object()) return (where.empty() ? "the record" : where) + " is " + jsonTypeName(*cur) + ", not an object";
            auto it = cur->find(s.key);
            if (it == cur->end())
                return where.empty() ? "no field '" + s.key + "'" : where + " has no key '" + s.key + "'";
            cur = &*it;
            where += (where.empty() ? "" : ".") + s.key;
        }
    }
    return "present";
}

} // namespace swarm
