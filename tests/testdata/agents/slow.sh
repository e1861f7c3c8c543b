#!/bin/sh
# Answers after SLOW_SECONDS (default 1), counting the messages of its prompt.
for last; do :; done
count=$(printf '%s\n' "$last" | grep -c '^<!-- crosstalk:message ')
sleep "${SLOW_SECONDS:-1}"
echo "slow reply to $count messages"
