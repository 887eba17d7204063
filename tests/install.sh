#!/bin/sh
# meson install puts the commands, the library with its pkg-config file, the
# public header and the man pages in place, and a program builds and runs
# against what was installed. Args: BUILD_ROOT SOURCE_ROOT
set -u
build=$1 src=$2
tmp=$(mktemp -d /tmp/wcodec-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >"$tmp/log" 2>&1 ||
    { cat "$tmp/log"; echo "FAIL: meson install"; exit 1; }
prefix=$(meson introspect "$build" --buildoptions |
    /usr/bin/python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
root=$dest$prefix
bad=0
need() { [ -e "$root/$1" ] || { echo "FAIL: $1 not installed"; bad=1; }; }
for b in wcodec-pack wcodec-unpack wcodec-info; do need "bin/$b"; done
[ -e "$build/src/cli/wcodec-mount" ] && need bin/wcodec-mount
need include/wcodec.h
for m in man1/wcodec-pack.1 man1/wcodec-unpack.1 man1/wcodec-info.1 man5/wcodec.5; do
    need "share/man/$m"
done
[ -e "$build/src/cli/wcodec-mount" ] && need share/man/man1/wcodec-mount.1
pc=$(find "$root" -name wcodec.pc | head -n 1)
lib=$(find "$root" -name 'libwcodec.so*' | head -n 1)
[ -n "$pc" ] || { echo "FAIL: wcodec.pc not installed"; bad=1; }
[ -n "$lib" ] || { echo "FAIL: libwcodec.so not installed"; bad=1; }
[ $bad -eq 0 ] || exit 1

# Build against the installed copy only (pkg-config, relocated to DESTDIR).
cat > "$tmp/use.c" <<'C'
#include <stdio.h>
#include <wcodec.h>
int main(int argc, char **argv)
{
    wcodec *w;
    if (wcodec_open(argv[1], &w)) {
        fprintf(stderr, "%s\n", wcodec_errdetail());
        return 1;
    }
    int rc = wcodec_verify(w);
    printf("%llu bytes, verify %s\n", (unsigned long long)wcodec_size(w),
           wcodec_strerror(rc));
    wcodec_close(w);
    return rc != 0;
}
C
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$root" --cflags --libs wcodec) ||
    { echo "FAIL: pkg-config wcodec"; exit 1; }
cc -o "$tmp/use" "$tmp/use.c" $flags || { echo "FAIL: cannot build against the installed library"; exit 1; }
/usr/bin/python3 "$src/scripts/wcodec-genmodel" -q --preset tiny "$tmp/m.safetensors" ||
    { echo "FAIL: genmodel"; exit 1; }
"$root/bin/wcodec-pack" -q "$tmp/m.safetensors" "$tmp/m.wcodec" || { echo "FAIL: installed wcodec-pack"; exit 1; }
LD_LIBRARY_PATH=$(dirname "$lib") "$tmp/use" "$tmp/m.wcodec" || { echo "FAIL: program using the installed library"; exit 1; }
echo ok
