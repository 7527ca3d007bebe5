#include "distill/json_schema.h"

#include "core/error.h"

#include <cmath>
#include <fstream>
#include <regex>
#include <set>

namespace swarm::distill {

using nlohmann::json;

namespace {

constexpr size_t kMaxPatternChars = 4096;

const std::set<std::string>& annotations() {
    static const std::set<std::string> a = {"$schema", "$id", "$comment", "title", "description", "default", "examples", "format"};
    return a;
}

const std::set<std::string>& typeNames() {
    static const std::set<std::string> t = {"object", "array", "string", "number", "integer", "boolean", "null"};
    return t;
}

// Checks one schema node (recursively) when the schema is loaded.
void checkSchemaNode(const json& s, const std::string& where, const std::string& source) {
    auto bad = [&](const std::string& why) { throw Error(source + ": at " + where + ": " + why); };
    if (s.is_boolean()) return;
    if (!s.is_object()) bad("a schema must be an object or a boolean");
    for (auto it = s.begin(); it != s.end(); ++it) {
        const std::string& k = it.key();
        const json& v = it.value();
        const std::string at = where + "/" + k;
        if (annotations().count(k)) continue;
        if (k == "type") {
            auto ok = [&](const json& t) { return t.is_string() && typeNames().count(t.get<std::string>()); };
            if (v.is_array()) {
                if (v.empty()) bad("'type' must not be an empty list");
                for (const json& t : v)
                    if (!ok(t)) bad("'type' has an unknown type " + t.dump());
            } else if (!ok(v)) {
                bad("'type' must be one of object, array, string, number, integer, boolean, null (or a list of them)");
            }
        } else if (k == "enum") {
            if (!v.is_array() || v.empty()) bad("'enum' must be a non-empty list");
        } else if (k == "const") {
        } else if (k == "properties") {
            if (!v.is_object()) bad("'properties' must be an object");
            for (auto p = v.begin(); p != v.end(); ++p) checkSchemaNode(p.value(), at + "/" + p.key(), source);
        } else if (k == "required") {
            if (!v.is_array()) bad("'required' must be a list of names");
            for (const json& n : v)
                if (!n.is_string()) bad("'required' must be a list of names");
        } else if (k == "additionalProperties" || k == "items" || k == "not") {
            checkSchemaNode(v, at, source);
        } else if (k == "anyOf" || k == "allOf" || k == "oneOf") {
            if (!v.is_array() || v.empty()) bad("'" + k + "' must be a non-empty list of schemas");
            for (size_t i = 0; i < v.size(); ++i) checkSchemaNode(v[i], at + "/" + std::to_string(i), source);
        } else if (k == "minItems" || k == "maxItems" || k == "minLength" || k == "maxLength") {
            if (!v.is_number_integer() || v.get<int64_t>() < 0) bad("'" + k + "' must be a non-negative integer");
        } else if (k == "minimum" || k == "maximum" || k == "exclusiveMinimum" || k == "exclusiveMaximum") {
            if (!v.is_number()) bad("'" + k + "' must be a number");
        } else if (k == "multipleOf") {
            if (!v.is_number() || !(v.get<double>() > 0)) bad("'multipleOf' must be a positive number");
        } else if (k == "pattern") {
            if (!v.is_string()) bad("'pattern' must be a string");
            try {
                std::regex re(v.get<std::string>(), std::regex::ECMAScript);
            } catch (const std::regex_error& e) {
                bad("'pattern' is not a valid regular expression: " + std::string(e.what()));
            }
        } else {
            bad("keyword '" + k + "' is not supported by the distiller's schema check (supported: type, enum, const, "
                "properties, required, additionalProperties, items, minItems, maxItems, minLength, maxLength, pattern, "
                "minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, anyOf, allOf, oneOf, not)");
        }
    }
}

const char* typeOf(const json& v) {
    switch (v.type()) {
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "boolean";
    case json::value_t::null: return "null";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    default: return "value";
    }
}

bool hasType(const json& v, const std::string& t) {
    if (t == "number") return v.is_number();
    if (t == "integer") {
        if (v.is_number_integer()) return true;
        if (v.is_number_float()) {
            const double d = v.get<double>();
            return std::isfinite(d) && d == std::floor(d);
        }
        return false;
    }
    return t == typeOf(v);
}

size_t codePoints(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

std::string childPath(const std::string& path, const std::string& key) {
    bool plain = !key.empty();
    for (char c : key)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) plain = false;
    return plain ? path + "." + key : path + "[" + json(key).dump() + "]";
}

// "" or the first violation of `s` by `v` at `path`.
std::string validate(const json& s, const json& v, const std::string& path) {
    if (s.is_boolean()) return s.get<bool>() ? "" : "at " + path + ": no value is allowed here";
    auto fail = [&](const std::string& why) { return "at " + path + ": " + why; };
    if (s.contains("type")) {
        const json& t = s["type"];
        bool ok = false;
        if (t.is_string()) ok = hasType(v, t.get<std::string>());
        else
            for (const json& x : t) ok = ok || hasType(v, x.get<std::string>());
        if (!ok) return fail("expected " + (t.is_string() ? t.get<std::string>() : t.dump()) + ", got " + typeOf(v));
    }
    if (s.contains("const") && s["const"] != v) return fail("expected " + s["const"].dump());
    if (s.contains("enum")) {
        bool found = false;
        for (const json& e : s["enum"]) found = found || e == v;
        if (!found) return fail("expected one of " + s["enum"].dump());
    }
    if (v.is_object()) {
        if (s.contains("required"))
            for (const json& n : s["required"])
                if (!v.contains(n.get<std::string>())) return fail("missing required property '" + n.get<std::string>() + "'");
        const json* props = s.contains("properties") ? &s["properties"] : nullptr;
        for (auto it = v.begin(); it != v.end(); ++it) {
            const std::string at = childPath(path, it.key());
            if (props && props->contains(it.key())) {
                std::string e = validate((*props)[it.key()], it.value(), at);
                if (!e.empty()) return e;
            } else if (s.contains("additionalProperties")) {
                const json& ap = s["additionalProperties"];
                if (ap.is_boolean() && !ap.get<bool>()) return fail("property '" + it.key() + "' is not allowed");
                std::string e = validate(ap, it.value(), at);
                if (!e.empty()) return e;
            }
        }
    }
    if (v.is_array()) {
        if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>())
            return fail("expected at least " + s["minItems"].dump() + " items, got " + std::to_string(v.size()));
        if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>())
            return fail("expected at most " + s["maxItems"].dump() + " items, got " + std::to_string(v.size()));
        if (s.contains("items"))
            for (size_t i = 0; i < v.size(); ++i) {
                std::string e = validate(s["items"], v[i], path + "[" + std::to_string(i) + "]");
                if (!e.empty()) return e;
            }
    }
    if (v.is_string()) {
        const size_t n = codePoints(v.get_ref<const std::string&>());
        if (s.contains("minLength") && n < s["minLength"].get<size_t>())
            return fail("expected at least " + s["minLength"].dump() + " characters, got " + std::to_string(n));
        if (s.contains("maxLength") && n > s["maxLength"].get<size_t>())
            return fail("expected at most " + s["maxLength"].dump() + " characters, got " + std::to_string(n));
        if (s.contains("pattern")) {
            // std::regex backtracks recursively: long strings could exhaust the stack.
            if (n > kMaxPatternChars) return fail("longer than " + std::to_string(kMaxPatternChars) + " characters, too long to check against a pattern");
            const std::regex re(s["pattern"].get<std::string>(), std::regex::ECMAScript);
            if (!std::regex_search(v.get_ref<const std::string&>(), re)) return fail("does not match pattern " + s["pattern"].dump());
        }
    }
    if (v.is_number()) {
        const double d = v.get<double>();
        if (s.contains("minimum") && d < s["minimum"].get<double>()) return fail("below the minimum " + s["minimum"].dump());
        if (s.contains("maximum") && d > s["maximum"].get<double>()) return fail("above the maximum " + s["maximum"].dump());
        if (s.contains("exclusiveMinimum") && d <= s["exclusiveMinimum"].get<double>())
            return fail("not above " + s["exclusiveMinimum"].dump());
        if (s.contains("exclusiveMaximum") && d >= s["exclusiveMaximum"].get<double>())
            return fail("not below " + s["exclusiveMaximum"].dump());
        if (s.contains("multipleOf")) {
            const double q = d / s["multipleOf"].get<double>();
            if (std::fabs(q - std::round(q)) > 1e-9) return fail("not a multiple of " + s["multipleOf"].dump());
        }
    }
    if (s.contains("allOf"))
        for (const json& sub : s["allOf"]) {
            std::string e = validate(sub, v, path);
            if (!e.empty()) return e;
        }
    if (s.contains("anyOf")) {
        bool any = false;
        for (const json& sub : s["anyOf"]) any = any || validate(sub, v, path).empty();
        if (!any) return fail("matches none of the anyOf schemas");
    }
    if (s.contains("oneOf")) {
        int matches = 0;
        for (const json& sub : s["oneOf"]) matches += validate(sub, v, path).empty() ? 1 : 0;
        if (matches != 1) return fail("matches " + std::to_string(matches) + " of the oneOf schemas, not exactly one");
    }
    if (s.contains("not") && validate(s["not"], v, path).empty()) return fail("matches the schema under 'not'");
    return "";
}

} // namespace

JsonSchema JsonSchema::parse(const json& schema, const std::string& source) {
    checkSchemaNode(schema, "#", source);
    JsonSchema s;
    s.schema_ = schema;
    return s;
}

JsonSchema JsonSchema::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("JSON schema " + path + ": cannot be read");
    const json j = json::parse(in, nullptr, false);
    if (j.is_discarded()) throw Error("JSON schema " + path + ": not valid JSON");
    return parse(j, path);
}

std::string JsonSchema::check(const json& value) const {
    if (schema_.is_null()) return "";
    return validate(schema_, value, "$");
}

} // namespace swarm::distill
