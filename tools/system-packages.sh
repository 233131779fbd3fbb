#!/bin/sh
# The Debian packages that `make test` needs, installed when one is missing (as `make bench`
# installs wrk): quiet and fast (file checks only) when everything is there, and a failure that
# names the command to run when they cannot be installed. Never a downloaded browser.
set -eu

# Each line: the file or command a test uses, and the Debian package that provides it.
NEEDS='
/usr/bin/chromium                               chromium
/usr/sbin/apache2                               apache2
/usr/lib/apache2/modules/mod_auth_openidc.so    libapache2-mod-auth-openidc
redis-server                                    redis-server
redis-cli                                       redis-tools
redis-sentinel                                  redis-sentinel
haproxy                                         haproxy
node                                            nodejs
npm                                             npm
'

missing() {
  echo "$NEEDS" | while read -r need package; do
    case "$need" in
      "") ;;
      /*) [ -e "$need" ] || echo "$package" ;;
      *) command -v "$need" >/dev/null 2>&1 || echo "$package" ;;
    esac
  done | sort -u | tr '\n' ' ' | sed 's/ $//'
}

packages=$(missing)
[ -n "$packages" ] || exit 0

if [ "$(id -u)" -eq 0 ]; then as_root=""; else as_root="sudo "; fi
fail() {
  echo "make test: Debian's $packages: $1. Run:" >&2
  echo "  ${as_root}apt-get update && ${as_root}apt-get install -y $packages" >&2
  exit 1
}
command -v apt-get >/dev/null 2>&1 || fail "missing, and there is no apt-get here"
if [ -n "$as_root" ] && ! command -v sudo >/dev/null 2>&1; then fail "missing, and sudo is not installed"; fi

echo "make test: installing Debian's $packages"
# shellcheck disable=SC2086 # $as_root is "sudo " or nothing; $packages are several words
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || fail "apt-get update failed"
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null \
  || fail "apt-get install failed"
packages=$(missing)
[ -z "$packages" ] || fail "still missing after apt-get install"
