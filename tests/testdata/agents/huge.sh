#!/bin/sh
# Prints far more than any reply may hold.
head -c 3000000 /dev/zero | tr '\0' 'x'
echo
