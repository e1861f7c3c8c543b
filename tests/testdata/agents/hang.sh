#!/bin/sh
# Starts a child that would outlive it (named by $1 so tests can find it), then never answers.
sh -c 'sleep 1000' "agent-child-$1" &
exec sleep 1000
