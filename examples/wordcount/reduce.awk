# Reduce side of wordcount: sums "word count" lines, prints "count word".
{ total[$1] += $2 }
END { for (w in total) printf "%d %s\n", total[w], w }
