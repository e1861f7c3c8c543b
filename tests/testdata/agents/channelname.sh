#!/bin/sh
# Replies with the channel its prompt says the messages are in.
prompt="$(for last; do :; done; printf '%s' "$last")"
printf '%s\n' "$prompt" | grep -o 'in channel "[^"]*"' | head -1
