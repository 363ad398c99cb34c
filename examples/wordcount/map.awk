# Map side of wordcount. Input: one word per line (already lower-cased; empty
# lines are skipped). Writes "word count" lines into OUT/<r>/counts for r in
# 0..N-1, where r = hash(word) mod N; every partition file is written, empty
# or not, so each reduce task finds one file per map task.
#   awk -v N=4 -v OUT=dir -f map.awk
BEGIN {
  if (N < 1 || OUT == "") { print "map.awk: set -v N=partitions -v OUT=dir" > "/dev/stderr"; exit 2 }
  for (i = 32; i < 127; i++) code[sprintf("%c", i)] = i
}
$0 != "" { count[$0]++ }
END {
  for (r = 0; r < N; r++) { file[r] = OUT "/" r "/counts"; printf "" > file[r] }
  for (w in count) {
    h = 0
    for (i = 1; i <= length(w); i++) h = (h * 31 + code[substr(w, i, 1)]) % 2147483647
    printf "%s %d\n", w, count[w] > file[h % N]
  }
  for (r = 0; r < N; r++) close(file[r])
}
