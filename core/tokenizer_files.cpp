// Loading the tokenizer's files (vocab.json + merges.txt, a Hugging Face tokenizer.json, or tokens
// already in memory) and writing a tokenizer.json. Every error names the file and the line or field.
#include "core/tokenizer.h"
#include "core/tokenizer_internal.h"

#include "core/error.h"
#include "core/resources.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace swarm {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using gpt2::kEndOfTextString;

constexpr int64_t kMaxTokenId = (int64_t(1) << 24) - 1;    // sanity bound on ids read from files

// ---------------------------------------------------------------------------------------------
// Byte-level alphabet: GPT-2 maps every byte to a printable code point so that BPE works on
// strings. Printable Latin-1 bytes map to themselves, the other 68 to U+0100 upwards in order.

void appendUtf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

struct ByteLevel {
    static constexpr char32_t kCodePoints = 256 + 68;
    std::string utf8[256];          // byte -> its code point, UTF-8 encoded
    int16_t byteOf[kCodePoints];    // code point -> byte, -1 when none

    ByteLevel() {
        std::fill(std::begin(byteOf), std::end(byteOf), int16_t(-1));
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char32_t cp = printable ? char32_t(b) : next++;
            appendUtf8(utf8[b], cp);
            byteOf[cp] = int16_t(b);
        }
    }
};

const ByteLevel& byteLevel() {
    static const ByteLevel table;
    return table;
}

// ---------------------------------------------------------------------------------------------
// File and JSON helpers; every error names the file.

std::string quoteToken(const std::string& s) {
    std::string shown = s.size() > 60 ? s.substr(0, 60) + "..." : s;
    return json(shown).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string readFile(const std::string& path, const char* what) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw Error(std::string(what) + " " + path + " does not exist");
    if (fs::is_directory(path, ec)) throw Error(std::string(what) + " " + path + " is a directory, not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(std::string("cannot open ") + what + " " + path + ": " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw Error(std::string("cannot read ") + what + " " + path);
    return std::move(ss).str();
}

json parseJson(const std::string& text, const std::string& path) {
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        throw Error(path + ": malformed JSON: " + e.what());
    }
}

// "a b" -> (a, b); false unless exactly two non-empty parts separated by one space.
bool splitMerge(std::string_view line, std::pair<std::string, std::string>& out) {
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp + 1 >= line.size()) return false;
    if (line.find(' ', sp + 1) != std::string_view::npos) return false;
    out.first.assign(line.substr(0, sp));
    out.second.assign(line.substr(sp + 1));
    return true;
}

// model.merges of a tokenizer.json: "a b" strings or ["a", "b"] pairs, in rank order.
std::vector<std::pair<std::string, std::string>> jsonMerges(const json& merges, const std::string& path) {
    std::vector<std::pair<std::string, std::string>> out;
    out.reserve(merges.size());
    std::pair<std::string, std::string> merge;
    for (size_t i = 0; i < merges.size(); ++i) {
        const json& m = merges[i];
        bool ok = false;
        if (m.is_string()) {
            ok = splitMerge(m.get_ref<const std::string&>(), merge);
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            merge.first = m[0].get<std::string>();
            merge.second = m[1].get<std::string>();
            ok = !merge.first.empty() && !merge.second.empty();
        }
        if (!ok)
            throw Error(path + ": model.merges[" + std::to_string(i) + "] is malformed (expected \"a b\" or [\"a\", \"b\"]): " +
                        m.dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 80));
        out.push_back(merge);
    }
    return out;
}

} // namespace

// =============================================================================================
// Loading

void Gpt2Tokenizer::setVocab(std::vector<std::pair<std::string, int64_t>>&& entries, const std::string& source) {
    int64_t maxId = -1;
    for (const auto& [token, id] : entries) {
        if (token.empty()) throw Error(source + ": the vocab contains an empty token string");
        if (id < 0 || id > kMaxTokenId)
            throw Error(source + ": token " + quoteToken(token) + " has out-of-range id " + std::to_string(id));
        maxId = std::max(maxId, id);
    }
    if (maxId < 0) throw Error(source + ": the vocab is empty");
    idToToken_.assign(size_t(maxId + 1), std::string());
    tokenToId_.clear();
    tokenToId_.reserve(entries.size());
    for (auto& [token, id] : entries) {
        std::string& slot = idToToken_[size_t(id)];
        if (!slot.empty())
            throw Error(source + ": id " + std::to_string(id) + " is used by both " + quoteToken(slot) + " and " +
                        quoteToken(token));
        if (!tokenToId_.emplace(token, int32_t(id)).second)
            throw Error(source + ": token " + quoteToken(token) + " appears twice");
        slot = std::move(token);
    }
}

void Gpt2Tokenizer::buildTables(const std::string& vocabSource, const std::string& mergesSource,
                                const std::vector<int32_t>& mergeLines, const std::string& mergesField) {
    const ByteLevel& bl = byteLevel();

    // Raw bytes of each token: its characters mapped back through the byte-level alphabet. A token
    // with characters outside it (an added token such as "<|im_start|>" with a space) is its text.
    idToBytes_.assign(idToToken_.size(), std::string());
    for (size_t id = 0; id < idToToken_.size(); ++id) {
        const std::string& tok = idToToken_[id];
        const auto* p = reinterpret_cast<const unsigned char*>(tok.data());
        const auto* end = p + tok.size();
        std::string bytes;
        bytes.reserve(tok.size());
        bool byteLevelForm = true;
        while (p < end) {
            char32_t cp;
            p += gpt2::decodeUtf8(p, end, cp);
            if (cp >= ByteLevel::kCodePoints || bl.byteOf[cp] < 0) {
                byteLevelForm = false;
                break;
            }
            bytes += char(bl.byteOf[cp]);
        }
        idToBytes_[id] = byteLevelForm ? std::move(bytes) : tok;
    }

    for (int b = 0; b < 256; ++b) {
        auto it = tokenToId_.find(bl.utf8[b]);
        if (it == tokenToId_.end()) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02X", b);
            throw Error(vocabSource + ": the vocab lacks the byte-level token " + quoteToken(bl.utf8[b]) + " for byte " +
                        hex + " (not a GPT-2 byte-level BPE vocab?)");
        }
        byteToId_[b] = it->second;
    }

    auto eot = tokenToId_.find(kEndOfTextString);
    if (eot == tokenToId_.end()) throw Error(vocabSource + ": the vocab has no <|endoftext|> token");
    endOfTextId_ = eot->second;
    bool eotListed = false;
    for (const AddedToken& t : addedTokens_) eotListed |= t.id == endOfTextId_;
    if (!eotListed) {
        AddedToken t;
        t.id = endOfTextId_;
        t.content = kEndOfTextString;
        addedTokens_.push_back(t);
    }
    std::sort(addedTokens_.begin(), addedTokens_.end(),
              [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });

    // Merge table: open addressing with linear probing, at most half full.
    if (merges_.size() > size_t(INT32_MAX / 4)) throw Error(mergesSource + ": too many merges");
    size_t capacity = 16;
    while (capacity < merges_.size() * 2 + 2) capacity *= 2;
    mergeTable_.assign(capacity, MergeSlot());
    mergeMask_ = capacity - 1;
    auto where = [&](size_t i) {
        return mergeLines.empty() ? mergesField + "[" + std::to_string(i) + "]" : "line " + std::to_string(mergeLines[i]);
    };
    for (size_t i = 0; i < merges_.size(); ++i) {
        const auto& [a, b] = merges_[i];
        auto ia = tokenToId_.find(a);
        if (ia == tokenToId_.end())
            throw Error(mergesSource + ": merge at " + where(i) + " names unknown token " + quoteToken(a));
        auto ib = tokenToId_.find(b);
        if (ib == tokenToId_.end())
            throw Error(mergesSource + ": merge at " + where(i) + " names unknown token " + quoteToken(b));
        auto im = tokenToId_.find(a + b);
        if (im == tokenToId_.end())
            throw Error(mergesSource + ": merge at " + where(i) + " makes " + quoteToken(a + b) +
                        ", which is not in the vocab");
        const uint64_t key = gpt2::mergeKey(ia->second, ib->second);
        size_t h = gpt2::mergeHash(key) & mergeMask_;
        while (mergeTable_[h].key != kEmptyKey && mergeTable_[h].key != key) h = (h + 1) & mergeMask_;
        // A repeated merge takes its later rank, as in the reference implementations.
        mergeTable_[h].key = key;
        mergeTable_[h].rank = int32_t(i);
        mergeTable_[h].merged = im->second;
    }
}

Gpt2Tokenizer Gpt2Tokenizer::fromVocabAndMerges(const std::string& vocabJsonPath, const std::string& mergesTxtPath) {
    Gpt2Tokenizer tok;
    {
        json vocab = parseJson(readFile(vocabJsonPath, "vocab file"), vocabJsonPath);
        if (!vocab.is_object()) throw Error(vocabJsonPath + ": expected a JSON object mapping tokens to ids");
        std::vector<std::pair<std::string, int64_t>> entries;
        entries.reserve(vocab.size());
        for (auto it = vocab.begin(); it != vocab.end(); ++it) {
            if (!it.value().is_number_integer())
                throw Error(vocabJsonPath + ": token " + quoteToken(it.key()) + " has a non-integer id " + it.value().dump());
            entries.emplace_back(it.key(), it.value().get<int64_t>());
        }
        tok.setVocab(std::move(entries), vocabJsonPath);
    }

    const std::string text = readFile(mergesTxtPath, "merges file");
    std::vector<int32_t> lines;
    size_t pos = 0;
    int32_t lineNo = 0;
    std::pair<std::string, std::string> merge;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        std::string_view line(text.data() + pos, nl - pos);
        pos = nl + 1;
        ++lineNo;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) continue;
        if (lineNo == 1 && line.substr(0, 8) == "#version") continue;
        if (!splitMerge(line, merge))
            throw Error(mergesTxtPath + ": line " + std::to_string(lineNo) +
                        " is malformed (expected two tokens separated by one space): " + quoteToken(std::string(line)));
        tok.merges_.push_back(merge);
        lines.push_back(lineNo);
    }
    tok.buildTables(vocabJsonPath, mergesTxtPath, lines);
    return tok;
}

Gpt2Tokenizer Gpt2Tokenizer::fromTokens(std::vector<std::pair<std::string, int64_t>> vocab,
                                       const std::vector<std::string>& merges, const std::string& source,
                                       const std::string& mergesField) {
    Gpt2Tokenizer tok;
    tok.setVocab(std::move(vocab), source);
    std::pair<std::string, std::string> merge;
    tok.merges_.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
        if (!splitMerge(merges[i], merge))
            throw Error(source + ": " + mergesField + "[" + std::to_string(i) +
                        "] is malformed (expected two tokens separated by one space): " + quoteToken(merges[i]));
        tok.merges_.push_back(merge);
    }
    tok.buildTables(source, source, {}, mergesField);
    return tok;
}

Gpt2Tokenizer Gpt2Tokenizer::fromTokenizerJson(const std::string& tokenizerJsonPath) {
    const std::string& path = tokenizerJsonPath;
    Gpt2Tokenizer tok;
    json root = parseJson(readFile(path, "tokenizer file"), path);
    try {
        if (!root.is_object()) throw Error(path + ": expected a JSON object");
        auto model = root.find("model");
        if (model == root.end() || !model->is_object())
            throw Error(path + ": no \"model\" object (a BPE model is required)");
        auto type = model->find("type");
        if (type != model->end() && !(type->is_string() && type->get<std::string>() == "BPE"))
            throw Error(path + ": model.type is " + type->dump() + ", not \"BPE\"");
        auto vocab = model->find("vocab");
        if (vocab == model->end() || !vocab->is_object())
            throw Error(path + ": model.vocab is missing or not an object (a BPE model is required)");
        auto merges = model->find("merges");
        if (merges == model->end() || !merges->is_array())
            throw Error(path + ": model.merges is missing or not an array (a BPE model is required)");

        std::vector<std::pair<std::string, int64_t>> entries;
        entries.reserve(vocab->size() + 1);
        for (auto it = vocab->begin(); it != vocab->end(); ++it) {
            if (!it.value().is_number_integer())
                throw Error(path + ": model.vocab token " + quoteToken(it.key()) + " has a non-integer id " +
                            it.value().dump());
            entries.emplace_back(it.key(), it.value().get<int64_t>());
        }

        auto added = root.find("added_tokens");
        if (added != root.end() && !added->is_null()) {
            if (!added->is_array()) throw Error(path + ": added_tokens is not an array");
            for (size_t i = 0; i < added->size(); ++i) {
                const json& a = (*added)[i];
                const std::string where = path + ": added_tokens[" + std::to_string(i) + "]";
                if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
                    !a["content"].is_string())
                    throw Error(where + " is malformed (needs an integer \"id\" and a string \"content\")");
                AddedToken t;
                int64_t id = a["id"].get<int64_t>();
                if (id < 0 || id > kMaxTokenId) throw Error(where + " has out-of-range id " + std::to_string(id));
                t.id = int32_t(id);
                t.content = a["content"].get<std::string>();
                auto flag = [&](const char* name, bool fallback) {
                    auto f = a.find(name);
                    return f != a.end() && f->is_boolean() ? f->get<bool>() : fallback;
                };
                t.singleWord = flag("single_word", false);
                t.lstrip = flag("lstrip", false);
                t.rstrip = flag("rstrip", false);
                t.normalized = flag("normalized", true);
                t.special = flag("special", true);
                auto inVocab = vocab->find(t.content);
                if (inVocab != vocab->end()) {
                    if (inVocab->get<int64_t>() != id)
                        throw Error(where + " gives " + quoteToken(t.content) + " id " + std::to_string(id) +
                                    " but model.vocab gives it " + inVocab->dump());
                } else {
                    entries.emplace_back(t.content, id);
                }
                tok.addedTokens_.push_back(std::move(t));
            }
        }
        tok.setVocab(std::move(entries), path);

        tok.merges_ = jsonMerges(*merges, path);
    } catch (const json::exception& e) {
        throw Error(path + ": unexpected content: " + e.what());
    }
    tok.buildTables(path, path, {});
    return tok;
}

Gpt2Tokenizer Gpt2Tokenizer::bundled() {
    const std::string vocab = findResource("tokenizer/vocab.json");
    if (vocab.empty())
        throw Error("bundled tokenizer not found: tokenizer/vocab.json is in none of $SWARM_RESOURCES_DIR, "
                    "<executable>/../share/swarm-workbench and the source tree's resources/");
    const std::string merges = (fs::path(vocab).parent_path() / "merges.txt").string();
    return fromVocabAndMerges(vocab, merges);
}

// =============================================================================================
// tokenizer.json writer. Written by hand rather than through nlohmann::ordered_json, whose
// insertion is linear per key (quadratic for a 50k-entry vocab); the vocab is listed in id order.

std::string Gpt2Tokenizer::toTokenizerJson() const {
    auto q = [](const std::string& s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); };
    auto b = [](bool v) { return v ? "true" : "false"; };
    std::string out;
    out.reserve(idToToken_.size() * 24 + merges_.size() * 20 + 4096);
    out += "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [";
    for (size_t i = 0; i < addedTokens_.size(); ++i) {
        const AddedToken& t = addedTokens_[i];
        out += i ? ",\n    {" : "\n    {";
        out += "\"id\": " + std::to_string(t.id) + ", \"content\": " + q(t.content) +
               ", \"single_word\": " + b(t.singleWord) + ", \"lstrip\": " + b(t.lstrip) + ", \"rstrip\": " +
               b(t.rstrip) + ", \"normalized\": " + b(t.normalized) + ", \"special\": " + b(t.special) + "}";
    }
    out += "\n  ],\n"
           "  \"normalizer\": null,\n"
           "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
           "\"use_regex\": true},\n"
           "  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": false, "
           "\"use_regex\": true},\n"
           "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, "
           "\"use_regex\": true},\n"
           "  \"model\": {\n"
           "    \"type\": \"BPE\",\n"
           "    \"dropout\": null,\n"
           "    \"unk_token\": null,\n"
           "    \"continuing_subword_prefix\": \"\",\n"
           "    \"end_of_word_suffix\": \"\",\n"
           "    \"fuse_unk\": false,\n"
           "    \"byte_fallback\": false,\n"
           "    \"vocab\": {";
    bool firstEntry = true;
    for (size_t id = 0; id < idToToken_.size(); ++id) {
        if (idToToken_[id].empty()) continue;
        out += firstEntry ? "\n      " : ",\n      ";
        firstEntry = false;
        out += q(idToToken_[id]);
        out += ": ";
        out += std::to_string(id);
    }
    out += "\n    },\n    \"merges\": [";
    // "a b" strings are read by every tokenizers version; pairs are needed only if a token has a space.
    bool asPairs = false;
    for (const auto& [l, r] : merges_)
        asPairs |= l.find(' ') != std::string::npos || r.find(' ') != std::string::npos;
    for (size_t i = 0; i < merges_.size(); ++i) {
        out += i ? ",\n      " : "\n      ";
        if (asPairs) out += "[" + q(merges_[i].first) + ", " + q(merges_[i].second) + "]";
        else out += q(merges_[i].first + " " + merges_[i].second);
    }
    out += "\n    ]\n  }\n}\n";
    return out;
}

} // namespace swarm
