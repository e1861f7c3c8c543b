#!/bin/sh
# Reports how it got its prompt (argument or stdin), its size, and what its environment holds.
if [ "$#" -gt 0 ]; then how=argument; size=$(printf '%s' "$(for last; do :; done; printf '%s' "$last")" | wc -c); else how=stdin; size=$(wc -c | tr -d ' '); fi
printf 'prompt via %s, %s bytes; secret=%s; model=%s; alias=%s; cwd=%s\n' "$how" "$size" "$SECRET" "$CROSSTALK_MODEL" "$CROSSTALK_ALIAS" "$(pwd)"
