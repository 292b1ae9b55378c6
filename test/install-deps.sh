#!/usr/bin/env bash
# Installs the Debian packages that building and testing sms_otp need (idempotent).
set -euo pipefail
packages=(build-essential postgresql-15 postgresql-server-dev-15 libcurl4-openssl-dev nlohmann-json3-dev
          libphonenumber-dev libssl-dev libgtest-dev postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
          nodejs chromium fonts-dejavu-core wrk clang nginx pgbouncer patroni etcd-server prometheus ${EXTRA_PACKAGES:-})
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
