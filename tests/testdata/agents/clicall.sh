#!/bin/sh
# Uses the crosstalk command line during its run, as an agent does: the CLI finds the engine and
# the run's own token in the environment (CROSSTALK_API, CROSSTALK_TOKEN).
crosstalk() { "$CROSSTALK_TEST_DENO" run -A --quiet "$CROSSTALK_TEST_MAIN" "$@"; }
crosstalk message send --channel "$CROSSTALK_CHANNEL" --to tester "sent with the CLI" >/dev/null \
  || { echo "the CLI could not send" >&2; exit 1; }
crosstalk whoami
