#!/usr/bin/env bash
# Builds the deployable Lambda artifact: dist/ddbrep-lambda.zip holding one `bootstrap` for the
# provided.al2023 runtime (x86_64). The same zip serves both functions; each picks its handler from its
# handler setting (`index.replicate` / `index.backup`). See DEPLOY.md.
#
# Built on this machine's toolchain, the binary needs glibc 2.34 at most (Amazon Linux 2023 has 2.34); the
# script checks that. For arm64 (Graviton) functions, build on an arm64 machine or with cargo-lambda
# (`cargo lambda build --release --arm64 -p ddbrep-lambdas`).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -p ddbrep-lambdas --bin bootstrap
mkdir -p dist
strip -o dist/bootstrap "$target_dir/release/bootstrap"
newest=$(objdump -T dist/bootstrap | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)
case "$newest" in
    GLIBC_2.[0-9]|GLIBC_2.[12][0-9]|GLIBC_2.3[0-4]) ;;
    *) echo "bootstrap needs $newest, newer than Amazon Linux 2023's glibc 2.34: build with cargo-lambda" >&2; exit 1 ;;
esac
rm -f dist/ddbrep-lambda.zip
python3 -m zipfile -c dist/ddbrep-lambda.zip dist/bootstrap
python3 - <<'PY'
import zipfile
info = zipfile.ZipFile("dist/ddbrep-lambda.zip").getinfo("bootstrap")
assert (info.external_attr >> 16) & 0o111, "bootstrap must be executable in the zip"
PY
echo "dist/ddbrep-lambda.zip ($(du -h dist/ddbrep-lambda.zip | cut -f1)): bootstrap for provided.al2023, x86_64, needs $newest"
