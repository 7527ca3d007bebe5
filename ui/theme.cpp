#include "ui/theme.h"

#include <QApplication>
#include <QPalette>
#include <QStyleFactory>
#include <qcustomplot.h>

namespace swarm::ui {

namespace {
bool g_dark = false;
}

void applyTheme(const QString& name) {
    g_dark = name == "dark";
    QApplication::setStyle(QStyleFactory::create("Fusion"));
    QPalette p;
    if (g_dark) {
        const QColor window(37, 40, 45), base(28, 30, 34), text(225, 228, 232), accent(86, 156, 214);
        p.setColor(QPalette::Window, window);
        p.setColor(QPalette::WindowText, text);
        p.setColor(QPalette::Base, base);
        p.setColor(QPalette::AlternateBase, window);
        p.setColor(QPalette::ToolTipBase, window);
        p.setColor(QPalette::ToolTipText, text);
        p.setColor(QPalette::Text, text);
        p.setColor(QPalette::Button, window);
        p.setColor(QPalette::ButtonText, text);
        p.setColor(QPalette::Highlight, accent);
        p.setColor(QPalette::HighlightedText, Qt::white);
        p.setColor(QPalette::PlaceholderText, QColor(140, 145, 150));
        p.setColor(QPalette::Disabled, QPalette::Text, QColor(120, 124, 130));
        p.setColor(QPalette::Disabled, QPalette::ButtonText, QColor(120, 124, 130));
    } else {
        p = QApplication::style()->standardPalette();
        p.setColor(QPalette::Highlight, QColor(38, 110, 190));
    }
    QApplication::setPalette(p);
}

QColor seriesColor(int index) {
    static const QColor colors[] = {QColor(38, 110, 190), QColor(230, 120, 30), QColor(60, 160, 80),
                                    QColor(200, 60, 60),  QColor(140, 90, 190), QColor(40, 160, 170)};
    return colors[index % 6];
}

void styleChart(QCustomPlot* plot, const QString& xLabel, const QString& yLabel) {
    const QPalette pal = QApplication::palette();
    const QColor fg = pal.color(QPalette::WindowText);
    const QColor grid = g_dark ? QColor(70, 74, 80) : QColor(225, 228, 232);
    plot->setBackground(pal.color(QPalette::Base));
    for (QCPAxis* axis : {plot->xAxis, plot->yAxis}) {
        axis->setLabel(axis == plot->xAxis ? xLabel : yLabel);
        axis->setLabelColor(fg);
        axis->setTickLabelColor(fg);
        axis->setBasePen(QPen(fg));
        axis->setTickPen(QPen(fg));
        axis->setSubTickPen(QPen(fg));
        axis->grid()->setPen(QPen(grid, 1, Qt::DotLine));
    }
    plot->legend->setBrush(pal.color(QPalette::Base));
    plot->legend->setTextColor(fg);
    plot->legend->setBorderPen(QPen(grid));
    plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot->setNoAntialiasingOnDrag(true);
    plot->setMinimumHeight(160);
}

} // namespace swarm::ui
