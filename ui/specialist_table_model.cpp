#include "ui/specialist_table_model.h"

#include <algorithm>

namespace swarm::ui {

QString escapePrompt(const std::string& prompt) {
    QString out;
    for (const QChar c : QString::fromStdString(prompt)) {
        if (c == '\\') out += QStringLiteral("\\\\");
        else if (c == '\n') out += QStringLiteral("\\n");
        else if (c == '\t') out += QStringLiteral("\\t");
        else out += c;
    }
    return out;
}

std::string unescapePrompt(const QString& text) {
    QString out;
    for (int i = 0; i < text.size(); ++i) {
        const QChar c = text[i];
        if (c != '\\' || i + 1 == text.size()) {
            out += c;
            continue;
        }
        const QChar next = text[i + 1];
        if (next == 'n') out += '\n';
        else if (next == 't') out += '\t';
        else if (next == '\\') out += '\\';
        else {
            out += c;   // an unknown escape is kept as typed
            continue;
        }
        ++i;
    }
    return out.toStdString();
}

SpecialistTableModel::SpecialistTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void SpecialistTableModel::setSpecialists(std::vector<SpecialistDef> specialists) {
    beginResetModel();
    specialists_ = std::move(specialists);
    endResetModel();
}

int SpecialistTableModel::addSpecialist() {
    auto taken = [this](const std::string& label) {
        return std::any_of(specialists_.begin(), specialists_.end(), [&](const SpecialistDef& s) { return s.label == label; });
    };
    SpecialistDef s;
    s.label = "specialist";
    for (int n = 2; taken(s.label); ++n) s.label = "specialist" + std::to_string(n);
    s.sampling.maxTokens = 128;         // SwarmDefinition::fromJson's default
    const int row = int(specialists_.size());
    beginInsertRows({}, row, row);
    specialists_.push_back(std::move(s));
    endInsertRows();
    return row;
}

void SpecialistTableModel::setModelPath(int row, const QString& path) {
    setData(index(row, Model), path);
}

int SpecialistTableModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(specialists_.size()); }
int SpecialistTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant SpecialistTableModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount()) return {};
    const SpecialistDef& s = specialists_[size_t(index.row())];
    if (role == Qt::DisplayRole || role == Qt::EditRole) {
        switch (index.column()) {
        case Label: return QString::fromStdString(s.label);
        case Model: return QString::fromStdString(s.model);
        case Prompt: return escapePrompt(s.prompt);
        case MaxTokens: return s.sampling.maxTokens;
        case Temperature:
            if (role == Qt::EditRole) return double(s.sampling.temperature);
            return QString::number(double(s.sampling.temperature), 'g', 4);
        }
    } else if (role == Qt::ToolTipRole) {
        if (index.column() == Model)
            return s.model.empty() ? tr("A model folder or .gguf file: double-click to type it, or Browse") : QString::fromStdString(s.model);
        if (index.column() == Prompt) return tr("The prompt template: {input} is the request, \\n a newline");
        if (index.column() == Temperature) return tr("0: greedy, the most likely token every time");
    } else if (role == Qt::TextAlignmentRole) {
        if (index.column() == MaxTokens || index.column() == Temperature) return int(Qt::AlignRight | Qt::AlignVCenter);
    }
    return {};
}

QVariant SpecialistTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case Label: return tr("Label");
    case Model: return tr("Model");
    case Prompt: return tr("Prompt");
    case MaxTokens: return tr("Max tokens");
    case Temperature: return tr("Temperature");
    }
    return {};
}

Qt::ItemFlags SpecialistTableModel::flags(const QModelIndex& index) const {
    if (!index.isValid()) return Qt::NoItemFlags;
    return Qt::ItemIsSelectable | Qt::ItemIsEnabled | Qt::ItemIsEditable;
}

bool SpecialistTableModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (!index.isValid() || role != Qt::EditRole || index.row() >= rowCount()) return false;
    SpecialistDef& s = specialists_[size_t(index.row())];
    switch (index.column()) {
    case Label: s.label = value.toString().trimmed().toStdString(); break;
    case Model: s.model = value.toString().trimmed().toStdString(); break;
    case Prompt: s.prompt = unescapePrompt(value.toString()); break;
    case MaxTokens: {
        bool ok = false;
        const int n = value.toInt(&ok);
        if (!ok || n < 1 || n > (1 << 20)) return false;
        s.sampling.maxTokens = n;
        break;
    }
    case Temperature: {
        bool ok = false;
        const double t = value.toDouble(&ok);
        if (!ok || !(t >= 0)) return false;
        s.sampling.temperature = float(t);
        break;
    }
    default: return false;
    }
    emit dataChanged(index, index, {Qt::DisplayRole, Qt::EditRole});
    return true;
}

bool SpecialistTableModel::removeRows(int row, int count, const QModelIndex& parent) {
    if (parent.isValid() || row < 0 || count <= 0 || row + count > rowCount()) return false;
    beginRemoveRows(parent, row, row + count - 1);
    specialists_.erase(specialists_.begin() + row, specialists_.begin() + row + count);
    endRemoveRows();
    return true;
}

} // namespace swarm::ui
