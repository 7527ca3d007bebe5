#!/usr/bin/env bash
# Builds the .deb with CPack, checks its metadata and contents, and runs the packaged `swarm`
# from an extracted copy (installing into the test machine's / is not a test's business).
set -euo pipefail
BUILD="$(cd "$1" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$WORK/out" > "$WORK/cpack.log" 2>&1) || { cat "$WORK/cpack.log"; exit 1; }
DEB="$(ls "$WORK"/out/*.deb)"
echo "package: $DEB ($(du -h "$DEB" | cut -f1))"
dpkg-deb -I "$DEB" > "$WORK/info"
grep -q "Package: swarm-workbench" "$WORK/info"
grep -E "^ Depends:" "$WORK/info"
for dep in libopenblas0-pthread libtorch libqt6widgets6 libqcustomplot; do
  grep -E "^ Depends:.*$dep" "$WORK/info" > /dev/null || { echo "missing dependency: $dep"; exit 1; }
done
dpkg-deb -x "$DEB" "$WORK/root"
for f in usr/bin/swarm usr/bin/swarm-workbench usr/share/applications/swarm-workbench.desktop \
         usr/share/icons/hicolor/scalable/apps/swarm-workbench.svg usr/share/metainfo/swarm-workbench.metainfo.xml \
         usr/share/swarm-workbench/tokenizer/vocab.json usr/share/swarm-workbench/tokenizer/merges.txt; do
  [ -e "$WORK/root/$f" ] || { echo "missing from the package: $f"; exit 1; }
done
"$WORK/root/usr/bin/swarm" --help | grep -q "model init"
# The packaged tokenizer is found next to the binary (no source tree involved).
ids="$(SWARM_RESOURCES_DIR= "$WORK/root/usr/bin/swarm" tokenize --ids "Hello world")"
[ "$ids" = "15496 995" ] || { echo "packaged tokenizer gave '$ids'"; exit 1; }
echo "1 passed, 0 failed"
