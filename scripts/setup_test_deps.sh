#!/usr/bin/env bash
# Installs what the test suite drives for real, when it is missing: git, tmux, chromium and the
# rest below. Uses apt-get as root; elsewhere it only reports what is missing.
set -euo pipefail
need=()
command -v git >/dev/null 2>&1 || need+=(git)
command -v curl >/dev/null 2>&1 || need+=(curl)
# Live agents are woken by typing into real tmux panes (tests/transports/tmux_test.ts).
command -v tmux >/dev/null 2>&1 || need+=(tmux)
# A private OpenSSH server on loopback carries an ssh:// remote (tests/engine/ssh_remote_test.ts).
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
# Network namespaces (ip netns) put machines apart (tests/engine/netns_test.ts; root only).
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# `script` gives `crosstalk auth login` a real terminal (tests/cli/auth_prompt_test.ts).
command -v script >/dev/null 2>&1 || need+=(bsdutils)
# `systemd-analyze verify` and `plistutil` check the rendered service units (tests/cli/service_test.ts).
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v plistutil >/dev/null 2>&1 || need+=(libplist-utils)
# The web UI is tested in a real browser, driven by playwright-core (tests/routes/web_ui_test.ts).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ "${#need[@]}" -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
else
  echo "missing test tools: ${need[*]} (install them, then rerun)" >&2
  exit 1
fi
