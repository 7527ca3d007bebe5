// Parquet files as records: the footer (FileMetaData, Thrift compact) is decoded at open, the
// schema turned into one assembly plan per leaf column, and rows are rebuilt row group by row
// group from each leaf's (repetition, definition, value) triplets (datasets/parquet_column.h).
//
// Supported: flat columns (BOOLEAN; INT32/INT64 signed or unsigned; FLOAT, DOUBLE; BYTE_ARRAY
// strings, enums and JSON text), structs, and lists (3-level LIST groups and the legacy 2-level
// and bare repeated forms) of those, nested to any depth: chat `messages` columns, a
// list<struct<role, content>>, come out as [{"role": ..., "content": ...}, ...]. A row's record
// number is its row number in the file (1-based), which the validation report shows as its
// line too. Refused at open with the column and the feature: MAP columns, INT96, DECIMAL, DATE,
// TIME, TIMESTAMP, INTERVAL, UUID, FLOAT16, BSON and other FIXED_LEN_BYTE_ARRAY columns,
// encrypted files, column chunks in other files.
#include "datasets/record_readers.h"

#include "core/format.h"
#include "datasets/parquet_column.h"
#include "datasets/parquet_metadata.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using nlohmann::json;

namespace swarm {

namespace {

using namespace parquet;

// One node of the schema tree (the schema list is the tree in depth-first order).
struct SchemaNode {
    const SchemaElement* element = nullptr;
    std::vector<SchemaNode> children;
    std::string path;             // dotted, from the top-level column
    bool isLeaf() const { return element->numChildren == 0 && element->type >= 0; }
    bool isList() const { return element->converted == kList || element->logical == kLogicalList; }
    bool isMap() const {
        return element->converted == kMap || element->converted == kMapKeyValue || element->logical == kLogicalMap;
    }
};

// What to do with a triplet on the way from the record down to the leaf's slot.
struct Step {
    enum Kind { Field, Optional, Array } kind;
    std::string name;             // Field: the key
    int def = 0;                  // Optional/Array: the definition level that makes it present
    int rep = 0;                  // Array: its repetition level
};

struct LeafPlan {
    LeafColumn column;
    std::vector<Step> steps;
};

class ParquetReader : public RecordReader {
public:
    ParquetReader(const std::string& path, const ReaderOptions& o) : RecordReader(path, SourceFormat::Parquet, o) {}
    ~ParquetReader() override {
        if (map_ && map_ != MAP_FAILED) ::munmap(map_, size_t(fileSize_));
    }

    bool next(SourceRecord& out) override {
        while (rowInGroup_ >= groupRows_) {
            finishRowGroup();
            if (group_ + 1 >= int(meta_.rowGroups.size())) return false;
            startRowGroup(group_ + 1);
        }
        out = SourceRecord();
        out.number = ++number_;
        out.line = out.number;
        out.value = json::object();
        size_t bytes = 0;
        std::string badColumn;
        size_t badOffset = 0;
        for (size_t c = 0; c < plans_.size(); ++c) assembleLeaf(c, out.value, bytes, badColumn, badOffset);
        ++rowInGroup_;
        ++rowsRead_;
        if (bytes > options_.maxRecordBytes) {
            out.value = json();
            out.issue = RecordIssue::TooLarge;
            out.detail = tooLargeDetail(bytes, options_.maxRecordBytes);
        } else if (!badColumn.empty()) {
            out.value = json();
            out.issue = RecordIssue::InvalidUtf8;
            out.detail = "invalid UTF-8 in column '" + badColumn + "' at byte " + std::to_string(badOffset + 1) +
                         " (binary data, not text)";
        }
        return true;
    }

    uint64_t bytesConsumed() const override {
        if (meta_.numRows <= 0) return fileSize_;
        return uint64_t(double(fileSize_) * double(rowsRead_) / double(meta_.numRows));
    }

protected:
    void readPreamble() override {
        mapFile();
        readFooter();
        buildSchema();
        columns_.clear();
        for (const SchemaNode& top : root_.children) columns_.push_back(top.element->name);
        group_ = -1;
        groupRows_ = rowInGroup_ = 0;
    }

private:
    [[noreturn]] void fail(const std::string& problem) const { throw Error(path_ + ": " + problem); }

    void mapFile() {
        struct stat st {};
        if (::stat(path_.c_str(), &st) != 0) {
            if (errno == ENOENT) fail("the dataset file does not exist");
            fail(std::string("cannot read the file: ") + std::strerror(errno));
        }
        if (S_ISDIR(st.st_mode)) fail("is a directory, not a Parquet file");
        fileSize_ = uint64_t(st.st_size);
        if (fileSize_ == 0) fail("is empty (0 bytes): there are no records to import");
        if (fileSize_ < 12) fail("is not a valid Parquet file: " + std::to_string(fileSize_) + " bytes, too short for the PAR1 header and footer");
        const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail(std::string("cannot open the file: ") + std::strerror(errno));
        map_ = ::mmap(nullptr, size_t(fileSize_), PROT_READ, MAP_PRIVATE, fd, 0);
        const int e = errno;
        ::close(fd);
        if (map_ == MAP_FAILED) fail(std::string("cannot map the file: ") + std::strerror(e));
        data_ = static_cast<const uint8_t*>(map_);
    }

    void readFooter() {
        if (std::memcmp(data_, "PAR1", 4) != 0) fail("is not a Parquet file (it does not start with the magic bytes PAR1)");
        if (std::memcmp(data_ + fileSize_ - 4, "PAR1", 4) != 0) {
            if (std::memcmp(data_ + fileSize_ - 4, "PARE", 4) == 0) fail("is an encrypted Parquet file (footer magic PARE), which is not supported");
            fail("is not a valid Parquet file: it does not end with the magic bytes PAR1 (truncated or not Parquet)");
        }
        uint32_t footerLen;
        std::memcpy(&footerLen, data_ + fileSize_ - 8, 4);
        if (uint64_t(footerLen) + 12 > fileSize_)
            fail("is not a valid Parquet file: the footer length " + std::to_string(footerLen) + " exceeds the file (" +
                 std::to_string(fileSize_) + " bytes; truncated?)");
        const uint64_t footerStart = fileSize_ - 8 - footerLen;
        meta_ = decodeFileMetaData(data_ + footerStart, footerLen, path_, footerStart);
        if (meta_.encrypted) fail("is an encrypted Parquet file, which is not supported");
        if (meta_.schema.empty()) fail("footer: the schema is empty");
        if (meta_.numRows < 0) fail("footer: a negative row count");
        int64_t total = 0;
        for (size_t g = 0; g < meta_.rowGroups.size(); ++g) {
            if (meta_.rowGroups[g].numRows < 0) fail("footer: row group " + std::to_string(g) + " has a negative row count");
            total += meta_.rowGroups[g].numRows;
        }
        if (total != meta_.numRows)
            fail("footer: the row groups hold " + std::to_string(total) + " rows, the file says " + std::to_string(meta_.numRows));
    }

    // The flattened schema list back into a tree, with checks on every count.
    void buildNode(SchemaNode& node, size_t& cursor, int depth, const std::string& parentPath) {
        if (depth > 64) fail("footer: the schema is nested deeper than 64 levels");
        const SchemaElement& e = meta_.schema[cursor++];
        node.element = &e;
        if (depth > 0) node.path = parentPath.empty() ? e.name : parentPath + "." + e.name;
        if (e.numChildren < 0) fail("footer: schema element '" + e.name + "' has a negative child count");
        if (e.numChildren == 0 && e.type < 0) fail("footer: schema element '" + e.name + "' has neither a type nor children");
        for (int32_t i = 0; i < e.numChildren; ++i) {
            if (cursor >= meta_.schema.size())
                fail("footer: schema element '" + e.name + "' announces " + std::to_string(e.numChildren) + " children; the schema ends first");
            SchemaNode child;
            buildNode(child, cursor, depth + 1, node.path);
            node.children.push_back(std::move(child));
        }
    }

    void buildSchema() {
        size_t cursor = 0;
        root_ = SchemaNode();
        buildNode(root_, cursor, 0, "");
        if (cursor != meta_.schema.size()) fail("footer: the schema has elements outside its root");
        if (root_.children.empty()) fail("footer: the schema has no columns");
        plans_.clear();
        for (const SchemaNode& top : root_.children) addField(top, {}, 0, 0, top.element->name);
        for (const RowGroup& g : meta_.rowGroups) {
            if (g.columns.size() != plans_.size())
                fail("footer: a row group has " + std::to_string(g.columns.size()) + " column chunks, the schema " +
                     std::to_string(plans_.size()) + " leaf columns");
        }
    }

    // The value a typed leaf becomes, or a refusal naming the column and the feature.
    ValueKind leafKind(const SchemaNode& n) const {
        const SchemaElement& e = *n.element;
        auto refuse = [&](const std::string& feature) -> ValueKind {
            fail("column '" + n.path + "': " + feature +
                 " is not supported (text, integer, floating-point and boolean columns, structs and lists of them are)");
        };
        switch (e.logical) {
        case kLogicalDecimal:
        case kLogicalDate:
        case kLogicalTime:
        case kLogicalTimestamp:
        case kLogicalUuid:
        case kLogicalFloat16:
        case kLogicalBson:
        case kLogicalUnknown: return refuse(std::string("the logical type ") + logicalName(e.logical));
        default: break;
        }
        switch (e.converted) {
        case kDecimal:
        case kDate:
        case kTimeMillis:
        case kTimeMicros:
        case kTimestampMillis:
        case kTimestampMicros:
        case kInterval:
        case kBson: return refuse(std::string("the converted type ") + convertedName(e.converted));
        default: break;
        }
        const bool unsignedInt = (e.logical == kLogicalInteger && !e.intSigned) || e.converted == kUint8 ||
                                 e.converted == kUint16 || e.converted == kUint32 || e.converted == kUint64;
        switch (e.type) {
        case kBoolean: return ValueKind::Bool;
        case kInt32: return unsignedInt ? ValueKind::UInt32 : ValueKind::Int32;
        case kInt64: return unsignedInt ? ValueKind::UInt64 : ValueKind::Int64;
        case kFloat: return ValueKind::Float;
        case kDouble: return ValueKind::Double;
        case kByteArray: return ValueKind::Text;
        case kInt96: return refuse("the physical type INT96 (legacy timestamps)");
        case kFixedLenByteArray: return refuse("the physical type FIXED_LEN_BYTE_ARRAY");
        }
        return refuse("the physical type " + std::to_string(e.type));
    }

    // A named field of an object: its key, then its value.
    void addField(const SchemaNode& n, std::vector<Step> steps, int def, int rep, const std::string& top) {
        steps.push_back(Step{Step::Field, n.element->name, 0, 0});
        addValue(n, std::move(steps), def, rep, top);
    }

    // The node's value with its own repetition: optional (may be null) or a bare repeated field
    // (an array of the node's content).
    void addValue(const SchemaNode& n, std::vector<Step> steps, int def, int rep, const std::string& top) {
        const int32_t r = n.element->repetition;
        if (r == kRepeated) {
            ++def;
            ++rep;
            steps.push_back(Step{Step::Array, "", def, rep});
        } else if (r == kOptional) {
            ++def;
            steps.push_back(Step{Step::Optional, "", def, 0});
        } else if (r != kRequired) {
            fail("column '" + n.path + "': unknown repetition type " + std::to_string(r));
        }
        addContent(n, std::move(steps), def, rep, top);
    }

    // The node's content without its own repetition: a leaf value, a list, or a struct.
    void addContent(const SchemaNode& n, std::vector<Step> steps, int def, int rep, const std::string& top) {
        if (n.isMap()) fail("column '" + n.path + "': MAP columns are not supported (text, number and boolean columns, structs and lists are)");
        if (n.isLeaf()) {
            LeafPlan plan;
            plan.column.path = n.path;
            plan.column.topName = top;
            plan.column.physical = n.element->type;
            plan.column.typeLength = n.element->typeLength;
            plan.column.kind = leafKind(n);
            plan.column.maxDef = def;
            plan.column.maxRep = rep;
            plan.steps = std::move(steps);
            plans_.push_back(std::move(plan));
            return;
        }
        if (n.children.empty()) fail("column '" + n.path + "': a group without fields");
        if (n.isList()) {
            const SchemaNode& r = n.children[0];
            if (n.children.size() != 1 || r.element->repetition != kRepeated)
                fail("column '" + n.path + "': a LIST group must hold exactly one repeated field");
            steps.push_back(Step{Step::Array, "", def + 1, rep + 1});
            // Parquet's backward-compatibility rules: the repeated field is itself the element
            // when it is a leaf, a group of several fields, or named "array" / "<list>_tuple";
            // else (the standard 3-level form) its one child is the element.
            const bool repeatedIsElement = r.isLeaf() || r.children.size() > 1 || r.element->name == "array" ||
                                           r.element->name == n.element->name + "_tuple";
            if (repeatedIsElement) addContent(r, std::move(steps), def + 1, rep + 1, top);
            else addValue(r.children[0], std::move(steps), def + 1, rep + 1, top);
            return;
        }
        for (const SchemaNode& c : n.children) addField(c, steps, def, rep, top);
    }

    void startRowGroup(int g) {
        group_ = g;
        const RowGroup& rg = meta_.rowGroups[size_t(g)];
        groupRows_ = rg.numRows;
        rowInGroup_ = 0;
        readers_.clear();
        for (size_t c = 0; c < plans_.size(); ++c) {
            const ColumnChunk& chunk = rg.columns[c];
            const LeafColumn& leaf = plans_[c].column;
            const std::string where = "column '" + leaf.path + "', row group " + std::to_string(g);
            if (chunk.encrypted) fail(where + ": the column is encrypted, which is not supported");
            if (!chunk.filePath.empty()) fail(where + ": the data lives in another file (" + chunk.filePath + "), which is not supported");
            if (!chunk.hasMetaData) fail(where + ": the column chunk has no metadata");
            std::string joined;
            for (const std::string& part : chunk.meta.path) joined += (joined.empty() ? "" : ".") + part;
            if (joined != leaf.path) fail(where + ": the column chunk is for '" + joined + "', the schema's leaf is '" + leaf.path + "'");
            if (chunk.meta.type != leaf.physical)
                fail(where + ": the column chunk holds " + physicalTypeName(chunk.meta.type) + ", the schema says " + physicalTypeName(leaf.physical));
            readers_.push_back(std::make_unique<ColumnChunkReader>(data_, fileSize_, path_, leaf, chunk.meta, g));
        }
        counters_.assign(plans_.size(), std::vector<int64_t>());
    }

    void finishRowGroup() {
        if (group_ < 0) return;
        for (size_t c = 0; c < readers_.size(); ++c)
            if (!readers_[c]->atEnd())
                fail("column '" + plans_[c].column.path + "', row group " + std::to_string(group_) + ": more values than the group's " +
                     std::to_string(groupRows_) + " rows");
    }

    // Applies every triplet of the current row of leaf c to the record.
    void assembleLeaf(size_t c, json& record, size_t& bytes, std::string& badColumn, size_t& badOffset) {
        ColumnChunkReader& rd = *readers_[c];
        const LeafPlan& plan = plans_[c];
        std::vector<int64_t>& counters = counters_[c];
        counters.assign(size_t(plan.column.maxRep) + 1, -1);
        bool first = true;
        for (;;) {
            if (rd.atEnd()) {
                if (first) fail("column '" + plan.column.path + "', row group " + std::to_string(group_) + ": the column ends at row " +
                                std::to_string(rowInGroup_) + " of the group's " + std::to_string(groupRows_));
                return;
            }
            const int rep = rd.peekRepetition();
            if (first ? rep != 0 : rep == 0) {
                if (first) fail("column '" + plan.column.path + "', row group " + std::to_string(group_) +
                                ": a row starts with repetition level " + std::to_string(rep) + " (corrupt levels)");
                return;
            }
            first = false;
            value_ = json();
            const int def = rd.next(value_);
            json* slot = &record;
            bool stopped = false;
            for (const Step& s : plan.steps) {
                if (s.kind == Step::Field) {
                    if (slot->is_null()) *slot = json::object();
                    if (!slot->is_object()) fail("column '" + plan.column.path + "': inconsistent nesting in row " + std::to_string(number_));
                    slot = &(*slot)[s.name];
                } else if (s.kind == Step::Optional) {
                    if (def < s.def) {
                        stopped = true;   // null at this level (the slot stays null)
                        break;
                    }
                } else {
                    if (slot->is_null()) *slot = json::array();
                    if (!slot->is_array()) fail("column '" + plan.column.path + "': inconsistent nesting in row " + std::to_string(number_));
                    if (def < s.def) {
                        stopped = true;   // an empty list
                        break;
                    }
                    int64_t& k = counters[size_t(s.rep)];
                    if (rep < s.rep) k = 0;          // a new list: its first element
                    else if (rep == s.rep) ++k;      // the next element of this list
                    if (k < 0) k = 0;
                    if (size_t(k) == slot->size()) slot->push_back(json());
                    else if (size_t(k) > slot->size())
                        fail("column '" + plan.column.path + "': list elements out of step with the other columns in row " +
                             std::to_string(number_));
                    slot = &(*slot)[size_t(k)];
                }
            }
            if (stopped || def != plan.column.maxDef) continue;
            if (value_.is_binary()) {
                const auto& b = value_.get_binary();
                if (badColumn.empty()) {
                    badColumn = plan.column.path;
                    isValidUtf8(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()), &badOffset);
                }
                bytes += b.size();
                *slot = nullptr;
                continue;
            }
            bytes += value_.is_string() ? value_.get_ref<const std::string&>().size() + 2 : 8;
            *slot = std::move(value_);
        }
    }

    void* map_ = nullptr;
    const uint8_t* data_ = nullptr;
    FileMetaData meta_;
    SchemaNode root_;
    std::vector<LeafPlan> plans_;
    std::vector<std::unique_ptr<ColumnChunkReader>> readers_;
    std::vector<std::vector<int64_t>> counters_;
    json value_;
    int group_ = -1;
    int64_t groupRows_ = 0, rowInGroup_ = 0, rowsRead_ = 0;
};

} // namespace

std::unique_ptr<RecordReader> newParquetReader(const std::string& path, const ReaderOptions& options) {
    return std::make_unique<ParquetReader>(path, options);
}

} // namespace swarm
