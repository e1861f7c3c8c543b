#!/bin/sh
# A planner: answers any prompt with a workflow plan, in a json fence after a line of prose, as
# models often do. Two drafts by `draft`, merged by `merge`.
echo "Here is the plan:"
echo '```json'
echo '{"fanout": [{"to": "draft", "count": 2, "prompt": "Draft a name for the project."}],'
echo ' "synthesize": {"to": "merge", "prompt": "Pick the better name."}}'
echo '```'
