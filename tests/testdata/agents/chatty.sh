#!/bin/sh
# Answers every prompt with friendly prose, and never with the plan or data it was asked for.
echo "Great idea! I would have a few people draft names, then pick the nicest one."
