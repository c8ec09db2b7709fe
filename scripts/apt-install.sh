#!/usr/bin/env bash
# apt-install.sh PACKAGE WHY: install a Debian package when apt-get is there and we may
# (root, or sudo without a password). Exit 0 when installed.
set -u
package=$1 why=$2
command -v apt-get >/dev/null 2>&1 || exit 1
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
echo "$package not found: installing Debian's $package package ($why)"
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$package" >/dev/null
