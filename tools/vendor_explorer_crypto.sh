#!/bin/sh
# Rebuild node/explorer/static/vendor/crypto/ (served with the explorer) from npm:
# libsodium's own Ed25519 verify (the strict rule of PROTOCOL.md section 2), compiled to
# JS/wasm by libsodium.js; verify.js loads it.
# Versions are pinned here and the tarballs' integrity is checked against npm's record;
# run from the repository root:  sh tools/vendor_explorer_crypto.sh
set -eu
SODIUM_VERSION=0.7.15
DEST=node/explorer/static/vendor/crypto
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for pkg in libsodium libsodium-wrappers; do
    (cd "$WORK" && npm pack --silent "$pkg@$SODIUM_VERSION" >/dev/null)
    mkdir -p "$WORK/$pkg"
    tar xzf "$WORK/$pkg-$SODIUM_VERSION.tgz" -C "$WORK/$pkg"
    want=$(npm view "$pkg@$SODIUM_VERSION" dist.integrity)
    got="sha512-$(openssl dgst -sha512 -binary "$WORK/$pkg-$SODIUM_VERSION.tgz" | base64 -w0)"
    [ "$want" = "$got" ] || { echo "$pkg: integrity $got is not npm's $want" >&2; exit 1; }
    cp "$WORK/$pkg/package/dist/modules/$pkg.js" "$DEST/$pkg.js"
    cp "$WORK/$pkg/package/LICENSE" "$DEST/LICENSE.$pkg"
    echo "$pkg@$SODIUM_VERSION $got"
done > "$DEST/VERSIONS"
cat "$DEST/VERSIONS"
