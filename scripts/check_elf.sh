#!/usr/bin/env bash
# check_elf.sh LIB GLIBC_FLOOR: LIB (libtrinity.so.* or the Node addon) needs no glibc symbol
# version newer than GLIBC_FLOOR, and libtrinity carries the SONAME libtrinity.so.<ABI major>.
set -euo pipefail
lib=$1 floor=$2
[ -f "$lib" ] || { echo "check_elf: $lib is missing"; exit 1; }
newest=$(objdump -T "$lib" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
if [ "$(printf '%s\n%s\n' "$newest" "$floor" | sort -V | tail -n1)" != "$floor" ]; then
  echo "check_elf: $(basename "$lib") needs glibc $newest, over the floor $floor:"
  objdump -T "$lib" | grep "GLIBC_$newest" | head -n5
  exit 1
fi
case "$(basename "$lib")" in
  libtrinity.so*)
    abi=$(sed -n 's/^#define TRINITY_ABI_VERSION \([0-9]*\)$/\1/p' "$(dirname "$0")/../include/trinity.h")
    readelf -d "$lib" | grep -q "SONAME.*\[libtrinity.so.$abi\]" || { echo "check_elf: $lib lacks SONAME libtrinity.so.$abi"; exit 1; }
    echo "check_elf: $(basename "$lib"): SONAME libtrinity.so.$abi, newest glibc symbol $newest (floor $floor)" ;;
  *) echo "check_elf: $(basename "$lib"): newest glibc symbol $newest (floor $floor)" ;;
esac
