#!/bin/bash
# The same seed must replay a simulation bit for bit (same trace hash), and
# another seed must give another run.  Usage: check_determinism.sh WEFT_SIM
set -u
sim=$1
a=$("$sim" transport --messages 300 --loss 0.2 --dup 0.05 --reorder 0.1 --seed 11 --seconds 300 | grep -o 'trace=0x[0-9a-f]*')
b=$("$sim" transport --messages 300 --loss 0.2 --dup 0.05 --reorder 0.1 --seed 11 --seconds 300 | grep -o 'trace=0x[0-9a-f]*')
c=$("$sim" transport --messages 300 --loss 0.2 --dup 0.05 --reorder 0.1 --seed 12 --seconds 300 | grep -o 'trace=0x[0-9a-f]*')
echo "seed 11: $a / $b; seed 12: $c"
[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ]
