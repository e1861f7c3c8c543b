#!/bin/sh
# Replies at once with who it is and how many messages its prompt carried.
prompt="$(for last; do :; done; printf '%s' "$last")"
count=$(printf '%s\n' "$prompt" | grep -c '^<!-- crosstalk:message ')
body=$(printf '%s\n' "$prompt" | awk '/^<!-- crosstalk:message /{b="";h=1;next} h&&/^$/{h=0;next} !h{b=b $0 "\n"} END{printf "%s", b}')
printf 'reply from %s (%s messages) to: %s\n' "$CROSSTALK_MODEL" "$count" "$body"
