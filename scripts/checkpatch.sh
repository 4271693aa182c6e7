#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# QEMU's checkpatch.pl on every C file of ours and on patches/.
#   checkpatch.sh PROJECT QEMU_SRC
set -euo pipefail
cd "$1"
cp=$2/scripts/checkpatch.pl
mapfile -t files < <(find hw tests guest -name '*.[ch]' | sort)
"$cp" --no-tree -f "${files[@]}"
"$cp" --no-tree patches/*.patch
