#!/bin/sh
# Prints a little, complains on stderr, and fails.
echo "partial output"
echo "something went wrong: boom" >&2
exit 3
