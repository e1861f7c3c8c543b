#!/bin/sh
# Uses the crosstalk command line during its run, as an agent does: `crosstalk` is on its PATH
# (the engine's own), and the CLI finds the engine and the run's own token in the environment
# (CROSSTALK_API, CROSSTALK_TOKEN).
crosstalk message send --channel "$CROSSTALK_CHANNEL" --to tester "sent with the CLI" >/dev/null \
  || { echo "the CLI could not send" >&2; exit 1; }
crosstalk whoami
