#!/bin/bash
# Splits a --shuffle run of bench/mutation.py into SHARDS parallel shards of PER mutants each,
# starting after the first FROM of the shuffled order; one log per shard in OUTDIR.
# usage: bench/mutation_shards.sh OUTDIR FROM PER SHARDS -- <bench/mutation.py arguments without --resume/--run>
out=$1 from=$2 per=$3 shards=$4
shift 5
mkdir -p "$out"
for ((s = 0; s < shards; s++)); do
    python bench/mutation.py --resume $((from + s * per)) --run "$per" "$@" > "$out/shard_$s.log" 2>&1 &
done
wait
