#!/usr/bin/env bash
# package.sh — the release build: a static ctdiag with its version and
# commit stamped in (ctdiag version), man pages generated from the commands
# (cobra/doc), bash, zsh and fish completions, packed into a .deb by nfpm.
#
#   scripts/package.sh                   # dist/ctdiag_<version>_<arch>.deb
#   VERSION=v1.2.0 scripts/package.sh    # a release (else the exact v* tag, else 0.0.0-dev+COMMIT)
#   ARCH=arm64 scripts/package.sh        # cross-built (docs come from a host build)
#
# Prints the .deb's path last. Needs Go and the module proxy (nfpm is run
# with go run at an exact version); nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0

commit=$(git rev-parse HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] || commit="$commit-dirty"
version=${VERSION:-$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null || echo "v0.0.0-dev+$(git rev-parse --short=12 HEAD)")}
arch=${ARCH:-$(go env GOARCH)}
# Reproducible: the same commit gives the same man pages and file times.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}

out=dist
stage=$out/stage
rm -rf "$stage" "$out"/*.deb
mkdir -p "$stage"
ldflags="-s -w -X main.stampedVersion=$version -X main.stampedCommit=$commit"
CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "$ldflags" -o "$stage/ctdiag" ./cmd/ctdiag
go run -tags gendocs -ldflags "$ldflags" ./cmd/ctdiag "$stage"
gzip -9n "$stage"/man1/*.1

VERSION=$version ARCH=$arch go run "$NFPM" package --config nfpm.yaml --packager deb --target "$out/" >&2
debs=("$out"/*.deb)
[ -f "${debs[0]}" ] || { echo "package.sh: nfpm made no .deb" >&2; exit 1; }
echo "${debs[0]}"
