#!/bin/sh
# Writes FILES text files of about SIZE bytes each, deterministically from SEED:
#
#   generate.sh [FILES=2000] [SIZE=8K] [SEED=1] [DIR=data beside this script]
#
# SIZE takes a K or M suffix; a bare number means megabytes (as in earlier
# versions). The same arguments give byte-identical files with any POSIX awk
# (mawk, gawk, busybox): the random numbers come from a Park-Miller generator
# written in awk, not from the awk's own rand().
#
# Words follow a Zipf-like law over a vocabulary of common English words and
# about 65,000 made-up ones ("kobeta"), with capitalised sentence starts and
# punctuation, so that the normalisation in README.md has work to do.
set -eu
files=${1:-2000}; size=${2:-8K}; seed=${3:-1}
dir=${4:-$(cd "$(dirname "$0")" && pwd)/data}
case $size in
  *[Kk]) bytes=$(( ${size%?} * 1024 )) ;;
  *[Mm]) bytes=$(( ${size%?} * 1048576 )) ;;
  *) bytes=$(( size * 1048576 )) ;;
esac
rm -rf "$dir"
mkdir -p "$dir"
LC_ALL=C awk -v files="$files" -v bytes="$bytes" -v seed="$seed" -v dir="$dir" '
function rnd() {  # uniform in (0, 1); x*16807 < 2^53, so exact in doubles
  state = (state * 16807) % 2147483647
  return state / 2147483647
}
function word(   k, w) {
  # log-uniform rank in [1, 65536): P(rank) ~ 1/rank, a Zipf law
  k = int(exp(rnd() * log(65536)))
  if (k <= ncommon) return common[k]
  w = ""
  for (; k > 0; k = int(k / 16)) w = w syl[k % 16 + 1]
  return w
}
BEGIN {
  ncommon = split("the of and to in a is that for it as was with be by on not he I this are or his from at which but have an they you were her she there been one all we their has would when if so no will more can who its said some may time what about into than them only other new two could like then people now way first my over also most years after made any many very where our me", common, " ")
  split("ka lo mi re tu sa ve do pi ne bo fa gu ze ri ta", syl, " ")
  for (f = 0; f < files; f++) {
    state = (seed * 1000003 + f * 7919) % 2147483647
    if (state == 0) state = 1
    path = sprintf("%s/part-%05d.txt", dir, f)
    out = 0; line = ""; start = 1
    while (out < bytes) {
      w = word()
      if (start) { w = toupper(substr(w, 1, 1)) substr(w, 2); start = 0 }
      r = rnd()
      if (r < 0.06) { w = w "."; start = 1 } else if (r < 0.10) w = w ","
      line = line (line == "" ? "" : " ") w
      if (length(line) > 70) { print line > path; out += length(line) + 1; line = "" }
    }
    if (line != "") print line > path
    close(path)
  }
}'
echo "wrote $files files of about $bytes bytes to $dir" >&2
