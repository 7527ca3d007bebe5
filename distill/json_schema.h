#pragma once
// The subset of JSON Schema (draft 2020-12 keywords) that the distiller's JSON validator checks a
// teacher's answer against (issue 16): type (a name or a list), enum, const, properties,
// required, additionalProperties (true, false or a schema), items (one schema), minItems,
// maxItems, minLength, maxLength (in code points), pattern (ECMAScript), minimum, maximum,
// exclusiveMinimum, exclusiveMaximum, multipleOf, anyOf, allOf, oneOf, not. Annotations ($schema,
// $id, title, description, default, examples, format, $comment) are ignored. Any other keyword
// ($ref, if/then/else, patternProperties, ...) is refused when the schema is loaded, so that a
// schema is never believed to be checked when part of it is not.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace swarm::distill {

class JsonSchema {
public:
    JsonSchema() = default;                        // accepts every value
    // Throws swarm::Error naming `source` and the schema path of an unsupported keyword or a
    // malformed value ("schema.json: at #/properties/age: 'minimum' must be a number").
    static JsonSchema parse(const nlohmann::json& schema, const std::string& source);
    static JsonSchema load(const std::string& path);   // parse() of a JSON file

    // "" when `value` conforms; else the first violation, e.g. "at $.args.limit: expected integer, got string".
    std::string check(const nlohmann::json& value) const;
    const nlohmann::json& schema() const { return schema_; }
    bool empty() const { return schema_.is_null(); }

private:
    nlohmann::json schema_;
};

} // namespace swarm::distill
