# Per-shard statistics of a CSV file with a header (plain comma-separated, no
# quoted fields). For each column, in header order, prints one line
#
#   index,name,count,missing,sum,min,max,numeric
#
# count: non-empty cells; missing: empty cells; sum/min/max over the numeric
# cells (%.17g: exact round trip of doubles); numeric: 1 if every non-empty cell
# is a decimal number. Columns named in SKIP (comma-separated) are left out.
# A row whose field count differs from the header's exits 2 (bad input).
#   awk -F, -v SKIP=id -f shard_stats.awk shard.csv > stats.csv
BEGIN {
  FS = ","
  num = "^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$"
  n = split(SKIP, s, ",")
  for (i = 1; i <= n; i++) skip[s[i]] = 1
}
NR == 1 {
  sub(/\r$/, "")
  ncol = NF
  for (i = 1; i <= NF; i++) { name[i] = $i; count[i] = 0; missing[i] = 0; sum[i] = 0; numeric[i] = 1 }
  next
}
{
  sub(/\r$/, "")
  if (NF != ncol) {
    printf "%s:%d: %d fields, the header has %d\n", FILENAME, FNR, NF, ncol > "/dev/stderr"
    bad = 1
    exit 2
  }
  for (i = 1; i <= NF; i++) {
    v = $i
    if (v == "") { missing[i]++; continue }
    count[i]++
    if (v !~ num) { numeric[i] = 0; continue }
    x = v + 0
    sum[i] += x
    if (!(i in min) || x < min[i]) min[i] = x
    if (!(i in max) || x > max[i]) max[i] = x
  }
}
END {
  if (bad) exit 2
  if (NR == 0) { print FILENAME ": empty file, no header" > "/dev/stderr"; exit 2 }
  for (i = 1; i <= ncol; i++) {
    if (name[i] in skip) continue
    printf "%d,%s,%d,%d,%.17g,%s,%s,%d\n", i, name[i], count[i], missing[i], sum[i],
           (i in min) ? sprintf("%.17g", min[i]) : "", (i in max) ? sprintf("%.17g", max[i]) : "",
           numeric[i]
  }
}
