#!/usr/bin/env bash
# Builds the swarm-serve .deb (BUILD/CPackServeConfig.cmake: install component "server"), checks
# its metadata (no LibTorch, Qt or BLAS among its dependencies), its contents (binary, tokenizer,
# systemd unit, config file as a conffile, postinst) and runs the packaged swarm-serve from an
# extracted copy: what it loads (ldd), --help, the packaged config, a refusal without keys.
set -euo pipefail
BUILD="$(cd "$1" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "test-serve-package: $*"; exit 1; }

(cd "$WORK" && cpack --config "$BUILD/CPackServeConfig.cmake" -B "$WORK/out" > "$WORK/cpack.log" 2>&1) || { cat "$WORK/cpack.log"; exit 1; }
DEB="$(ls "$WORK"/out/swarm-serve_*.deb)"
echo "package: $DEB ($(du -h "$DEB" | cut -f1))"
dpkg-deb -I "$DEB" > "$WORK/info"
grep -q "Package: swarm-serve" "$WORK/info" || fail "not named swarm-serve"
grep -E "^ Depends:" "$WORK/info"
for dep in adduser libcpp-httplib libsqlite3; do
  grep -E "^ Depends:.*$dep" "$WORK/info" > /dev/null || fail "missing dependency: $dep"
done
for heavy in libtorch libqt6 libqcustomplot libopenblas; do
  if grep -E "^ Depends:.*$heavy" "$WORK/info" > /dev/null; then fail "depends on $heavy"; fi
done

dpkg-deb -x "$DEB" "$WORK/root"
dpkg-deb -e "$DEB" "$WORK/control"
UNIT=usr/lib/systemd/system/swarm-serve.service
for f in usr/bin/swarm-serve usr/share/swarm-serve/tokenizer/vocab.json usr/share/swarm-serve/tokenizer/merges.txt \
         "$UNIT" etc/swarm-serve/swarm-serve.conf usr/share/doc/swarm-serve/api-keys.example \
         usr/share/doc/swarm-serve/README.md; do
  [ -e "$WORK/root/$f" ] || fail "missing from the package: $f"
done
grep -qx "/etc/swarm-serve/swarm-serve.conf" "$WORK/control/conffiles" || fail "the config file is not a conffile"
[ -x "$WORK/control/postinst" ] || fail "no postinst"
grep -q "adduser --quiet --system" "$WORK/control/postinst" || fail "postinst makes no system user"
grep -qx "User=swarm-serve" "$WORK/root/$UNIT" || fail "the unit does not run as swarm-serve"
grep -qx "ExecStart=/usr/bin/swarm-serve --config /etc/swarm-serve/swarm-serve.conf" "$WORK/root/$UNIT" || fail "ExecStart"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$WORK/root/$UNIT" || fail "ExecReload"

BIN="$WORK/root/usr/bin/swarm-serve"
if ldd "$BIN" | awk '{print $1}' | grep -Ei "^lib(torch|c10|qt6|qt5|openblas|gomp)"; then
  fail "the packaged swarm-serve loads LibTorch, Qt or BLAS"
fi
"$BIN" --help | grep -q -- "--api-key-file" || fail "--help"
"$BIN" --config "$WORK/root/etc/swarm-serve/swarm-serve.conf" --help > /dev/null || fail "the packaged config does not parse"
if out="$("$BIN" /nonexistent.json --host 0.0.0.0 2>&1)"; then fail "served 0.0.0.0 without keys"; fi
echo "$out" | grep -q "refusing to serve 0.0.0.0 without API keys" || fail "no refusal: $out"
if command -v systemd-analyze > /dev/null; then
  # The unit's syntax, with ExecStart pointing at the extracted binary.
  sed "s|/usr/bin/swarm-serve|$BIN|" "$WORK/root/$UNIT" > "$WORK/swarm-serve.service"
  if ! systemd-analyze verify "$WORK/swarm-serve.service" > "$WORK/verify.log" 2>&1; then
    if grep -v -E "swarm-serve.*(user|User)|Failed to .*bus|Operation not permitted|not running" "$WORK/verify.log" | grep -q .; then
      cat "$WORK/verify.log"; fail "systemd-analyze verify"
    fi
  fi
fi
echo "1 passed, 0 failed"
