#!/bin/sh
# Answers at once but leaves a child (named by $1) holding its output open.
sh -c 'sleep 1000' "agent-child-$1" &
echo "answered"
