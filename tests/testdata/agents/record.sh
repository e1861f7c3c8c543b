#!/bin/sh
# Appends one line per run to $RECORD_FILE, then replies: lets tests count runs.
echo "$CROSSTALK_ALIAS $CROSSTALK_MESSAGE" >> "$RECORD_FILE"
echo "done by $CROSSTALK_ALIAS"
