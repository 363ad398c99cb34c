#!/usr/bin/env bash
# package:deb — the install layout and the Debian package (deploy/packaging.cmake,
# deploy/debian, deploy/systemd), from a complete build:
#   1. `cmake --install BUILD --prefix /usr` into a DESTDIR: configs in /etc/drover
#      (not /usr/etc), units in /lib/systemd/system; another prefix keeps etc/ under it;
#   2. `cpack -G DEB` into a temp dir: every file with its path and mode, control
#      fields, maintainer scripts (sh -n; postinst, prerm and postrm run against
#      stub commands that only log: the drover user and directories, idempotence,
#      no unit enabled or started, purge);
#   3. the units: `systemd-analyze verify` (no unknown key or section) with
#      ExecStart pointing at the built programs, and `systemd-analyze security
#      --offline=true` exposure: master <= 4.0, workers <= 5.0.
# Usage: package_test.sh BUILD_DIR SOURCE_DIR. Exit 77 (skipped) when dpkg-deb or
# cpack is missing. Everything happens in its own temp dir.
set -euo pipefail

build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/drover-package-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "--- $*"; }

for tool in dpkg-deb cpack; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (deploy/install-deps.sh)"; exit 77; }
done
cpack_bin=$(command -v cpack)
cmake_bin=$(command -v cmake)
for prog in drover drover-master drover-worker; do
  [ -x "$build/bin/$prog" ] || fail "$build/bin/$prog is not built (build everything first)"
done
have_completion=0
[ -f "$src/cli/completion/drover.bash" ] && have_completion=1

units=(drover-master.service drover-worker.service drover-worker@.service)

# --- 1. cmake --install ------------------------------------------------------
step "cmake --install --prefix /usr into a DESTDIR"
DESTDIR="$tmp/root" "$cmake_bin" --install "$build" --prefix /usr --strip >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; fail "cmake --install --prefix /usr"; }
r=$tmp/root
for f in usr/bin/drover usr/bin/drover-master usr/bin/drover-worker; do
  [ -f "$r/$f" ] && [ -x "$r/$f" ] || fail "cmake --install: no executable /$f"
done
for f in etc/drover/master.yaml.example etc/drover/worker.yaml.example \
  lib/systemd/system/drover-master.service lib/systemd/system/drover-worker.service \
  lib/systemd/system/drover-worker@.service; do
  [ -f "$r/$f" ] || fail "cmake --install --prefix /usr: no /$f"
done
[ ! -e "$r/usr/etc" ] || fail "cmake --install --prefix /usr wrote /usr/etc (must be /etc)"
[ ! -e "$r/usr/lib/systemd" ] || fail "cmake --install --prefix /usr wrote /usr/lib/systemd (must be /lib/systemd)"
cmp -s "$r/etc/drover/master.yaml.example" "$src/configs/master.yaml" || fail "master.yaml.example differs from configs/master.yaml"
[ "$have_completion" = 0 ] || [ -f "$r/usr/share/bash-completion/completions/drover" ] ||
  fail "cmake --install: no bash completion"

step "cmake --install --prefix <dir>: etc/ and lib/systemd/ stay under the prefix"
"$cmake_bin" --install "$build" --prefix "$tmp/opt" --strip >"$tmp/install-opt.log" 2>&1 ||
  { cat "$tmp/install-opt.log" >&2; fail "cmake --install --prefix $tmp/opt"; }
[ -f "$tmp/opt/etc/drover/worker.yaml.example" ] || fail "--prefix $tmp/opt: no etc/drover/worker.yaml.example under it"
[ -f "$tmp/opt/lib/systemd/system/drover-master.service" ] || fail "--prefix $tmp/opt: no lib/systemd/system/ under it"
rm -rf "$tmp/opt"

# --- 2. the package ------------------------------------------------------------
step "cpack -G DEB"
(cd "$build" && "$cpack_bin" -G DEB -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1) ||
  { cat "$tmp/cpack.log" >&2; fail "cpack -G DEB"; }
debs=("$tmp"/pkg/drover_*.deb)
[ ${#debs[@]} = 1 ] && [ -f "${debs[0]}" ] || fail "cpack made no single drover_*.deb: ${debs[*]}"
deb=${debs[0]}
echo "package: ${deb##*/} ($(du -k "$deb" | cut -f1) KiB)"

step "contents (dpkg-deb -c): path, mode, owner"
dpkg-deb -c "$deb" | awk '{ sub(/^\.\//, "/", $6); print $1, $2, $6 }' >"$tmp/contents"
expect() {  # MODE PATH: the entry exists with that mode, owned by root/root
  grep -qxF -- "$1 root/root $2" "$tmp/contents" ||
    fail "package: expected '$1 root/root $2', found: $(grep -F -- " $2" "$tmp/contents" || echo nothing)"
}
for p in drover drover-master drover-worker; do expect -rwxr-xr-x "/usr/bin/$p"; done
for c in master worker; do expect -rw-r--r-- "/etc/drover/$c.yaml.example"; done
for u in "${units[@]}"; do expect -rw-r--r-- "/lib/systemd/system/$u"; done
[ "$have_completion" = 0 ] || expect -rw-r--r-- /usr/share/bash-completion/completions/drover
if grep -E ' /usr/etc/| /usr/lib/systemd/| /usr/local/|_CPack_Packages|/tests?/' "$tmp/contents"; then
  fail "package: files in the wrong place (above)"
fi
if grep -E '^-' "$tmp/contents" | grep -E '^-..[sS]|^-.....[sS]'; then
  fail "package: setuid/setgid files (above)"
fi
dpkg-deb -x "$deb" "$tmp/data"
if command -v readelf >/dev/null; then
  for p in drover drover-master drover-worker; do
    ! readelf -S "$tmp/data/usr/bin/$p" | grep -q '\.debug_info' || fail "package: /usr/bin/$p is not stripped"
  done
fi

step "control fields (dpkg-deb -I)"
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = drover ] || fail "Package: $(field Package)"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] || fail "Architecture: $(field Architecture)"
[ -n "$(field Version)" ] && [ -n "$(field Maintainer)" ] && [ -n "$(field Description)" ] ||
  fail "Version, Maintainer and Description must be set"
depends=$(field Depends)
for d in adduser libc6 libstdc++6 libssl3 libsqlite3-0 libarchive13 libyaml-cpp0.7 libspdlog1.10 libfmt9 libjemalloc2; do
  [[ ", $depends," == *", $d"[\ ,-]* ]] || fail "Depends lacks $d: $depends"  # libspdlog1.10-fmt9 too
done
installed_kib=$(field Installed-Size)
du_kib=$(du -sk "$tmp/data" | cut -f1)
echo "Installed-Size: $installed_kib KiB; du of the unpacked tree: $du_kib KiB"
[ "$installed_kib" -gt 0 ] && [ "$installed_kib" -le $((du_kib * 2)) ] && [ "$du_kib" -le $((installed_kib * 2)) ] ||
  fail "Installed-Size $installed_kib KiB does not match the unpacked $du_kib KiB"

step "maintainer scripts"
dpkg-deb -e "$deb" "$tmp/control"
for s in postinst prerm postrm; do
  [ -x "$tmp/control/$s" ] || fail "no executable $s in the package"
  cmp -s "$tmp/control/$s" "$src/deploy/debian/$s" || fail "$s differs from deploy/debian/$s"
  sh -n "$tmp/control/$s" || fail "$s: syntax error (sh -n)"
  if grep -nE '^[^#]*(systemctl|deb-systemd-invoke|invoke-rc\.d|service)\b[^#]*[[:space:]](start|restart|reload-or-restart|enable|reenable|preset|unmask)\b' \
    "$tmp/control/$s"; then
    fail "$s enables or starts a unit (above)"
  fi
done
[ -f "$tmp/control/conffiles" ] || fail "no conffiles"
sort "$tmp/control/conffiles" >"$tmp/conffiles.sorted"
printf '%s\n' /etc/drover/master.yaml.example /etc/drover/worker.yaml.example | diff - "$tmp/conffiles.sorted" ||
  fail "conffiles lists the wrong files (above)"

# The scripts against stubs: PATH holds only commands that log their arguments
# to $STUB_LOG and exit with $STUB_RC_<name> (default 0), so nothing real is
# touched and a command the scripts call without a stub fails the run.
stubs=$tmp/stubs
mkdir "$stubs"
for c in getent adduser addgroup deluser delgroup mkdir chown chmod dpkg-statoverride rm rmdir systemctl; do
  printf '#!/bin/sh\nprintf "%%s %%s\\n" %s "$*" >>"$STUB_LOG"\nexit "${STUB_RC_%s:-0}"\n' "$c" "${c//-/_}" >"$stubs/$c"
  chmod +x "$stubs/$c"
done
run_script() {  # LOG SCRIPT ARGS...: runs a maintainer script against the stubs
  local log=$1 script=$2
  shift 2
  : >"$log"
  env -i PATH="$stubs" STUB_LOG="$log" STUB_RC_getent="${STUB_RC_getent:-0}" \
    STUB_RC_dpkg_statoverride=1 /bin/sh "$tmp/control/$script" "$@" ||
    { cat "$log" >&2; fail "$script $* failed against the stubs"; }
}
logged() { grep -qxE "$2" "$1" || { cat "$1" >&2; fail "expected a call matching '$2' (log above)"; }; }
not_logged() { ! grep -qE "$2" "$1" || { cat "$1" >&2; fail "unexpected call matching '$2' (log above)"; }; }

STUB_RC_getent=2 run_script "$tmp/fresh.log" postinst configure
logged "$tmp/fresh.log" 'addgroup .*--system drover'
logged "$tmp/fresh.log" 'adduser .*--system .*--home /var/lib/drover .*--no-create-home .*drover'
logged "$tmp/fresh.log" 'mkdir -p /etc/drover /var/lib/drover/master /var/lib/drover/worker'
logged "$tmp/fresh.log" 'addgroup .*--system drover-master'
logged "$tmp/fresh.log" 'adduser .*--system .*--home /var/lib/drover/master .*--no-create-home .*drover-master'
logged "$tmp/fresh.log" 'chown drover-master:drover-master /var/lib/drover/master'
logged "$tmp/fresh.log" 'chmod 0750 /var/lib/drover/master'
logged "$tmp/fresh.log" 'chown root:root /var/lib/drover/worker'
logged "$tmp/fresh.log" 'chmod 0755 /var/lib/drover/worker'
logged "$tmp/fresh.log" 'chown root:drover-master /etc/drover'
not_logged "$tmp/fresh.log" '^systemctl .*(^| )(start|restart|enable|reenable|preset|unmask)( |$)'
not_logged "$tmp/fresh.log" '^rm '
run_script "$tmp/again.log" postinst configure 0.0.1  # user exists: an upgrade creates nothing
not_logged "$tmp/again.log" '^(adduser|addgroup) '
not_logged "$tmp/again.log" '^systemctl .*(^| )(start|restart|enable|reenable|preset|unmask)( |$)'
run_script "$tmp/remove.log" prerm remove
run_script "$tmp/rmrm.log" postrm remove
not_logged "$tmp/rmrm.log" '^(rm|deluser|delgroup) '
run_script "$tmp/purge.log" postrm purge
logged "$tmp/purge.log" 'rm -rf /var/lib/drover'
logged "$tmp/purge.log" 'deluser .*--system drover'
logged "$tmp/purge.log" 'deluser .*--system drover-master'

# For real, as root, in a private mount namespace where /etc is a copy and
# /var/lib and /run are empty temp dirs: the host's users, /var/lib and running
# units are never touched (no /run/systemd/system in there: no systemctl call).
if [ "$(id -u)" = 0 ] && unshare --mount true 2>/dev/null; then
  step "maintainer scripts for real in a private mount namespace"
  iso=$tmp/iso
  mkdir -p "$iso/etc" "$iso/varlib" "$iso/run"
  cp -a /etc/. "$iso/etc/"
  for db in passwd group shadow gshadow; do  # a fresh install, even where a drover user exists
    [ ! -f "$iso/etc/$db" ] || sed -i '/^drover\(-master\)\?:/d' "$iso/etc/$db"
  done
  cat >"$iso/run.sh" <<EOF
set -eu
mount --make-rprivate /
mount --bind "$iso/etc" /etc
mount --bind "$iso/varlib" /var/lib
mount --bind "$iso/run" /run
sh "$tmp/control/postinst" configure
getent passwd drover | cut -d: -f6,7
getent passwd drover-master | cut -d: -f6,7
stat -c '%A %U:%G %n' /etc/drover /var/lib/drover/master /var/lib/drover/worker
sh "$tmp/control/postinst" configure 0.0.1
sh "$tmp/control/prerm" remove
sh "$tmp/control/postrm" remove
sh "$tmp/control/postrm" purge
getent passwd drover || echo "no user drover"
getent group drover || echo "no group drover"
getent passwd drover-master || echo "no user drover-master"
[ -e /var/lib/drover ] || echo "no /var/lib/drover"
EOF
  unshare --mount bash "$iso/run.sh" >"$tmp/iso.log" 2>&1 || { cat "$tmp/iso.log" >&2; fail "maintainer scripts in a private mount namespace"; }
  printf '%s\n' "/var/lib/drover:/usr/sbin/nologin" "/var/lib/drover/master:/usr/sbin/nologin" \
    "drwxr-xr-x root:drover-master /etc/drover" \
    "drwxr-x--- drover-master:drover-master /var/lib/drover/master" \
    "drwxr-xr-x root:root /var/lib/drover/worker" \
    "no user drover" "no group drover" "no user drover-master" "no /var/lib/drover" | diff - "$tmp/iso.log" ||
    fail "maintainer scripts for real: unexpected output (diff above)"
  rm -rf "$iso"
else
  echo "note: not root or no unshare: maintainer scripts ran against stubs only"
fi

# --- 3. the units --------------------------------------------------------------
step "units: the template matches drover-worker.service but for the instance's paths"
strip_instance() {
  grep -vE '^(#|$|Description=|ExecStart=|StateDirectory=|ReadWritePaths=)' "$1"
}
diff <(strip_instance "$tmp/data/lib/systemd/system/drover-worker.service") \
  <(strip_instance "$tmp/data/lib/systemd/system/drover-worker@.service") ||
  fail "drover-worker@.service and drover-worker.service differ in a setting (above)"
grep -q '^ExecStart=/usr/bin/drover-worker --config /etc/drover/worker-%i.yaml --work-dir /var/lib/drover/worker-%i$' \
  "$tmp/data/lib/systemd/system/drover-worker@.service" || fail "drover-worker@.service: ExecStart"
grep -q '^TimeoutStopSec=6min$' "$tmp/data/lib/systemd/system/drover-worker.service" ||
  fail "drover-worker.service: TimeoutStopSec must exceed drain_timeout (5m)"
not_logged "$tmp/data/lib/systemd/system/drover-master.service" '^ExecReload='

if ! command -v systemd-analyze >/dev/null; then
  echo "note: no systemd-analyze here; units not verified"
  exit 0
fi
mkdir "$tmp/units"
for u in "${units[@]}"; do
  name=${u/@./@test.}  # a template is verified through an instance
  sed -e "s|/usr/bin/drover-master|$build/bin/drover-master|g" \
    -e "s|/usr/bin/drover-worker|$build/bin/drover-worker|g" \
    "$tmp/data/lib/systemd/system/$u" >"$tmp/units/$name"
  grep -q "^ExecStart=$build/bin/" "$tmp/units/$name" || fail "$u: ExecStart is not /usr/bin/drover-*"
done
step "systemd-analyze verify"
for u in "$tmp"/units/*.service; do
  rc=0
  out=$(cd "$tmp/units" && systemd-analyze verify "./${u##*/}" 2>&1) || rc=$?
  if [ "$rc" != 0 ] || grep -qE "Unknown (key|section|lvalue)|${tmp}/units|\./drover" <<<"$out"; then
    printf '%s\n' "$out" >&2
    fail "systemd-analyze verify ${u##*/} (exit $rc)"
  fi
  echo "${u##*/}: verified"
done
step "systemd-analyze security --offline=true"
exposure() {
  (cd "$tmp/units" && systemd-analyze security --offline=true "./$1" 2>&1) |
    sed -nE 's/.*Overall exposure level for [^:]*: ([0-9]+\.[0-9]+).*/\1/p'
}
for u in drover-master.service drover-worker.service drover-worker@test.service; do
  e=$(exposure "$u")
  [ -n "$e" ] || fail "systemd-analyze security printed no exposure for $u"
  echo "$u: exposure $e"
  limit=5.0
  [ "$u" != drover-master.service ] || limit=4.0
  awk -v e="$e" -v l="$limit" 'BEGIN { exit !(e <= l) }' || fail "$u: exposure $e is above $limit"
done
echo "package:deb passed"
