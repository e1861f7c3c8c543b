#!/bin/sh
# Works for SLOW_SECONDS, records the run in $RECORD_FILE, then replies.
sleep "${SLOW_SECONDS:-0.2}"
echo "$CROSSTALK_ALIAS $CROSSTALK_MESSAGE" >> "$RECORD_FILE"
echo "done by $CROSSTALK_ALIAS"
