#include "ui/dataset_table_model.h"
#include "datasets/dataset_store.h"

namespace swarm::ui {

DatasetTableModel::DatasetTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void DatasetTableModel::setDataset(ProjectStore* store, int64_t datasetId, std::optional<Split> split) {
    beginResetModel();
    store_ = store;
    datasetId_ = datasetId;
    split_ = split;
    cache_.clear();
    rows_ = store ? int(DatasetStore(*store).exampleCount(datasetId, split)) : 0;
    endResetModel();
}

int DatasetTableModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : rows_; }
int DatasetTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

const StoredExample* DatasetTableModel::rowAt(int row) const {
    if (!store_ || row < 0 || row >= rows_) return nullptr;
    const int page = row / kPageSize;
    for (auto it = cache_.begin(); it != cache_.end(); ++it) {
        if (it->index == page) {
            cache_.splice(cache_.begin(), cache_, it);
            const auto& rows = cache_.front().rows;
            size_t i = size_t(row % kPageSize);
            return i < rows.size() ? &rows[i] : nullptr;
        }
    }
    Page p;
    p.index = page;
    p.rows = DatasetStore(*store_).examples(datasetId_, split_, int64_t(page) * kPageSize, kPageSize);
    ++pagesRead_;
    cache_.push_front(std::move(p));
    if (cache_.size() > 8) cache_.pop_back();
    const auto& rows = cache_.front().rows;
    size_t i = size_t(row % kPageSize);
    return i < rows.size() ? &rows[i] : nullptr;
}

int64_t DatasetTableModel::exampleIdAt(int row) const {
    const StoredExample* e = rowAt(row);
    return e ? e->id : 0;
}

static QString oneLine(const std::string& text, int maxChars) {
    QString s = QString::fromUtf8(text.data(), int(std::min<size_t>(text.size(), size_t(maxChars) * 4)));
    s.replace('\n', QStringLiteral(" \u21b5 "));
    if (s.size() > maxChars) s = s.left(maxChars) + QStringLiteral("\u2026");
    return s;
}

QVariant DatasetTableModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid()) return {};
    const StoredExample* e = rowAt(index.row());
    if (!e) return {};
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Record: return qlonglong(e->recordNumber);
        case SplitColumn: return QString(splitName(e->split));
        case Prompt: return oneLine(e->prompt, 160);
        case Response: return oneLine(e->response, 160);
        case Tokens: return int(e->ids.size());
        case PromptTokens: return e->promptLen;
        case Truncated: return e->truncatedTokens > 0 ? QString::number(e->truncatedTokens) : QString();
        }
    } else if (role == Qt::ToolTipRole && (index.column() == Prompt || index.column() == Response)) {
        const std::string& t = index.column() == Prompt ? e->prompt : e->response;
        return QString::fromUtf8(t.data(), int(std::min<size_t>(t.size(), 4000)));
    } else if (role == Qt::TextAlignmentRole) {
        if (index.column() == Tokens || index.column() == PromptTokens || index.column() == Truncated ||
            index.column() == Record)
            return int(Qt::AlignRight | Qt::AlignVCenter);
    }
    return {};
}

QVariant DatasetTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case Record: return tr("Record");
    case SplitColumn: return tr("Split");
    case Prompt: return tr("Prompt");
    case Response: return tr("Response");
    case Tokens: return tr("Tokens");
    case PromptTokens: return tr("Masked");
    case Truncated: return tr("Truncated");
    }
    return {};
}

} // namespace swarm::ui
