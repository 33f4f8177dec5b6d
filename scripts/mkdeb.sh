#!/bin/sh
# `make deb`: build/twscope_VERSION_ARCH.deb, built by debhelper (dpkg-buildpackage) from a copy
# of the sources with deploy/debian as debian/, then checked by lintian (errors fail the build).
# --version V packages the same sources as version V (the upgrade test), in OUT (default build/deb);
# --arch arm64 cross-builds the package for arm64 (make deb ARCH=arm64).
set -eu
cd "$(dirname "$0")/.."
version=$(cat VERSION)
out=build/deb
bump=""
arch=$(dpkg --print-architecture)
cross=""
while [ $# -gt 0 ]; do
	case "$1" in
	--arch) arch=$2; [ "$arch" = "$(dpkg --print-architecture)" ] || cross="-a$arch -d"; shift 2 ;;
	--version) bump=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) echo "mkdeb.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
logged=$(dpkg-parsechangelog -l deploy/debian/changelog -S Version)
if [ "$logged" != "$version" ]; then
	echo "mkdeb.sh: VERSION says $version, deploy/debian/changelog $logged: add a changelog entry" >&2
	exit 1
fi
src=$out/twscope-${bump:-$version}
rm -rf "$out"
mkdir -p "$src"
# the tracked sources (and new ones not yet added), never what a build left
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude=./build --exclude=./twscope -cf - . | tar -xf - -C "$src"
fi
cp -r deploy/debian "$src/debian"
cp deploy/systemd/twscope.service deploy/systemd/twscope.default "$src/debian/"
if [ -n "$bump" ]; then
	echo "$bump" > "$src/VERSION"
	{
		printf 'twscope (%s) unstable; urgency=medium\n\n  * Test build.\n\n' "$bump"
		printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l deploy/debian/changelog -S Maintainer)" \
			"$(date -R)"
		cat deploy/debian/changelog
	} > "$src/debian/changelog"
	sed -i "s/\"twscope $version\"/\"twscope $bump\"/" "$src/man/twscope.8"
fi
# shellcheck disable=SC2086 # $cross: -aARCH and -d (the build dependencies are the build
# machine's, and the host architecture's libraries are checked by the link)
(cd "$src" && dpkg-buildpackage -b --no-sign -j2 $cross >../build.log 2>&1) || {
	tail -30 "$out/build.log" >&2
	echo "mkdeb.sh: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
	exit 1
}
deb=twscope_${bump:-$version}_$arch.deb
rc=0
lintian --fail-on error --info "$out/$deb" >"$out/lintian.log" 2>&1 || rc=$?
grep -v "running with root privileges" "$out/lintian.log" || true
if [ "$rc" -ne 0 ]; then
	echo "mkdeb.sh: lintian found errors (exit $rc)" >&2
	exit 1
fi
cp "$out/$deb" "$out/../$deb"
echo "mkdeb.sh: $(dirname "$out")/$deb"
