#!/bin/sh
# Appends one line per message of its prompt to $RECORD_FILE ("<alias> <id>"), then replies:
# lets tests count how often each message was run, batches included.
prompt="$(for last; do :; done; printf '%s' "$last")"
printf '%s\n' "$prompt" | sed -n "s/^id: /$CROSSTALK_ALIAS /p" >> "$RECORD_FILE"
echo "done by $CROSSTALK_ALIAS"
