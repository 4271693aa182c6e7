#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The driver packages' catalogs on the ISO (TAP): each parses (OpenSSL's
# asn1parse and pkcs7, our reader), its signature verifies against the
# build's test certificate (osslsigncode), it lists exactly the package's
# files with the right hashes (the flat SHA-1 of each INF, the
# Authenticode SHA-1 of each .sys, which osslsigncode -catalog checks
# itself), a changed file is not in it, and the package's INFs name it.
#
#   test-catalog.sh PROJECT_ROOT WINDOWS_BUILD_DIR
set -euo pipefail
case "${1:-}" in
-h|--help) sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac

root=$1
win=$2
iso=$win/iso
cert=$win/test-cert.pem
mk=$root/scripts/make-catalog.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
no() { n=$((n + 1)); echo "not ok $n - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else no "$what"; fi; }


for pkg in "chimneynic:chimneynic.inf chimneynic.sys" \
           "chimneyim:chimneyim.inf chimneyim_m.inf chimneyim.sys"; do
    name=${pkg%%:*}
    files=${pkg#*:}
    cat=$iso/$name.cat
    check "$name.cat: DER that OpenSSL parses, with the certificate" \
        bash -c 'openssl asn1parse -inform DER -in "$1" >/dev/null &&
                 openssl pkcs7 -inform DER -in "$1" -print_certs -noout |
                     grep -q "subject=CN = qemu-chimney test signing"' _ "$cat"
    check "$name.cat: its signature verifies against the build's certificate" \
        bash -c 'osslsigncode verify -in "$1" -CAfile "$2" 2>&1 |
                 grep -q "^Signature verification: ok"' _ "$cat" "$cert"
    python3 "$mk" --dump "$cat" >"$tmp/$name.dump"
    sed 's/^/# /' "$tmp/$name.dump"
    want=$(for f in $files; do echo "$f"; done | sort | tr '\n' ' ')
    have=$(awk '$1 != "signers" { print $2 }' "$tmp/$name.dump" | sort |
           tr '\n' ' ')
    check "$name.cat: the package's files, every tag its hash, one signer" \
        bash -c '[ "$1" = "$2" ] && ! grep -q MISMATCH "$3" &&
                 grep -q "^signers 1$" "$3"' _ "$want" "$have" "$tmp/$name.dump"
    for f in $files; do
        case "$f" in
        *.inf)
            sum=$(sha1sum "$iso/$f" | awk '{ print toupper($1) }')
            check "$name.cat: $f by its flat SHA-1" \
                grep -q "^$sum $f flat ok" "$tmp/$name.dump"
            ;;
        *.sys)
            check "$name.cat: $f by its Authenticode hash (osslsigncode -catalog)" \
                bash -c 'osslsigncode verify -catalog "$1" -in "$2" -CAfile "$3" 2>&1 |
                         grep -q "^Signature verification: ok"' \
                _ "$cat" "$iso/$f" "$cert"
            ;;
        esac
    done
    first=${files%% *}
    check "$name.cat: $first names it (CatalogFile)" \
        grep -q "^CatalogFile = $name.cat" "$iso/$first"
    sys=${files##* }
    cp "$iso/$sys" "$tmp/changed.sys"
    printf '\x90' | dd of="$tmp/changed.sys" bs=1 seek=1100 conv=notrunc \
        2>/dev/null
    check "$name.cat: a changed $sys is not in it" \
        bash -c '! osslsigncode verify -catalog "$1" -in "$2" -CAfile "$3" \
                     >/dev/null 2>&1' _ "$cat" "$tmp/changed.sys" "$cert"
done
check "a file that is not a catalog gets a message, not a traceback" \
    bash -c '! python3 "$1" --dump "$2" 2>"$3/err" && grep -q "is not a catalog" "$3/err"' \
    _ "$mk" "$iso/chimneynic.inf" "$tmp"
echo "1..$n"
exit $((fails > 0))
