#!/bin/sh
# A planner that reads its prompt, as a model would. To the planning prompt it answers a plan, in a
# json fence after a line of prose, whose fan-out prompt quotes the request's first line; a request
# that mentions a ghost gets a plan naming a model no transport has. Anything else gets prose.
prompt="$(for last; do :; done; printf '%s' "$last")"
case "$prompt" in
*"Plan a crosstalk workflow"*) ;;
*) echo "Happy to help, but I only plan workflows."; exit 0 ;;
esac
request=$(printf '%s\n' "$prompt" | awk 'found && NF { print; exit } /^The request:$/ { found = 1 }' | tr -d '"\\')
model=draft
case "$request" in *ghost*) model=ghost/writer ;; esac
echo "Here is the plan:"
echo '```json'
printf '{"fanout": [{"to": "%s", "count": 2, "prompt": "Draft: %s"}],\n' "$model" "$request"
echo ' "synthesize": {"to": "merge", "prompt": "Pick the better draft."}}'
echo '```'
