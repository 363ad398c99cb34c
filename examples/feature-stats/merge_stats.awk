# Merges per-shard statistics (lines of shard_stats.awk) into one table.
# The mean is merged exactly: total sum / total count, never a mean of means.
# Every shard must have the same columns (else exit 2). Writes to stdout
#
#   column,count,missing,mean,min,max
#
# for the numeric columns (a column is numeric when every shard saw only
# numbers in it), in header order; numbers printed with %.10g. With -v
# TEXT=file it also writes the same table as aligned text to that file.
BEGIN { FS = "," }
{
  i = $1
  if (FNR == 1) shards++
  if (!(i in name)) { name[i] = $2; if (i > ncol) ncol = i; numeric[i] = 1 }
  else if (name[i] != $2) {
    printf "%s: column %d is %s, another shard has %s\n", FILENAME, i, $2, name[i] > "/dev/stderr"
    bad = 1
    exit 2
  }
  seen[i]++
  count[i] += $3; missing[i] += $4; sum[i] += $5
  if ($8 == 0) numeric[i] = 0
  if ($6 != "" && (!(i in min) || $6 + 0 < min[i])) min[i] = $6 + 0
  if ($7 != "" && (!(i in max) || $7 + 0 > max[i])) max[i] = $7 + 0
}
END {
  if (bad) exit 2
  for (i = 1; i <= ncol; i++) {
    if (!(i in name)) continue
    if (seen[i] != shards) { printf "column %s is missing from some shards\n", name[i] > "/dev/stderr"; exit 2 }
  }
  print "column,count,missing,mean,min,max"
  if (TEXT != "") printf "%-10s %10s %8s %14s %12s %12s\n", "column", "count", "missing", "mean", "min", "max" > TEXT
  for (i = 1; i <= ncol; i++) {
    if (!(i in name) || !numeric[i]) continue
    mean = count[i] > 0 ? sprintf("%.10g", sum[i] / count[i]) : ""
    lo = (i in min) ? sprintf("%.10g", min[i]) : ""
    hi = (i in max) ? sprintf("%.10g", max[i]) : ""
    printf "%s,%d,%d,%s,%s,%s\n", name[i], count[i], missing[i], mean, lo, hi
    if (TEXT != "") printf "%-10s %10d %8d %14s %12s %12s\n", name[i], count[i], missing[i], mean, lo, hi > TEXT
  }
}
