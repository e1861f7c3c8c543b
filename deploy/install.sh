#!/bin/sh
# Prepares this machine for crosstalk in system mode: the `crosstalk` service user, the
# directories the service uses and, on a machine with systemd where `crosstalk` is installed, the
# unit template `crosstalk@.service`. Safe to run again: it creates what is missing and sets the
# owners and modes of what is there (a template already there is kept). Needs root.
#
#   sudo sh deploy/install.sh [--dry-run]
#
# Then, for each transport NAME:
#   sudo -u crosstalk crosstalk transport init --path /var/lib/crosstalk/NAME/transport
#   sudo systemctl enable --now crosstalk@NAME
set -eu

SERVICE_USER=crosstalk
DATA_DIR=/var/lib/crosstalk
CONFIG_DIR=/etc/crosstalk
LOG_DIR=/var/log/crosstalk
# Where systemd reads units written by the administrator (another folder only for tests).
UNIT_DIR=${CROSSTALK_SYSTEMD_UNIT_DIR:-/etc/systemd/system}
DRY_RUN=0

usage() {
  echo "Usage: sh deploy/install.sh [--dry-run]"
  echo
  echo "Creates the '$SERVICE_USER' user (home $DATA_DIR) and $DATA_DIR, $CONFIG_DIR, $LOG_DIR."
  echo "  --dry-run  print the commands instead of running them"
}

for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "error: unknown argument '$arg'" >&2
      usage >&2
      exit 64
      ;;
  esac
done

run() {
  if [ "$DRY_RUN" = 1 ]; then
    echo "$*"
  else
    "$@"
  fi
}

if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" -ne 0 ]; then
  echo "error: creating a system user needs root: sudo sh $0" >&2
  exit 77
fi

# macOS: the lowest id from 300 to 499 that no user and no group has.
free_macos_id() {
  used=$({
    dscl . -list /Users UniqueID
    dscl . -list /Groups PrimaryGroupID
  } | awk '{ print $2 }')
  candidate=300
  while [ "$candidate" -lt 500 ]; do
    if ! printf '%s\n' "$used" | grep -qx "$candidate"; then
      echo "$candidate"
      return 0
    fi
    candidate=$((candidate + 1))
  done
  echo "error: no free id from 300 to 499 for the '$SERVICE_USER' account" >&2
  exit 69
}

nologin=/usr/sbin/nologin
[ -x "$nologin" ] || nologin=/sbin/nologin
[ -x "$nologin" ] || nologin=/bin/false

if id "$SERVICE_USER" >/dev/null 2>&1; then
  echo "user '$SERVICE_USER' exists"
else
  case "$(uname -s)" in
    Linux)
      if command -v useradd >/dev/null 2>&1; then
        run useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
          --shell "$nologin" --comment "crosstalk engine" "$SERVICE_USER"
      elif command -v adduser >/dev/null 2>&1; then
        # BusyBox (Alpine): a system group, then a system user in it.
        run addgroup -S "$SERVICE_USER"
        run adduser -S -D -H -h "$DATA_DIR" -s "$nologin" -G "$SERVICE_USER" "$SERVICE_USER"
      else
        echo "error: neither useradd nor adduser is installed: create the user '$SERVICE_USER' by hand" >&2
        exit 69
      fi
      ;;
    Darwin)
      # A hidden account and group with one free id below 500, where macOS keeps the accounts
      # of its own daemons.
      account_id=$(free_macos_id)
      run dscl . -create "/Groups/$SERVICE_USER"
      run dscl . -create "/Groups/$SERVICE_USER" PrimaryGroupID "$account_id"
      run dscl . -create "/Users/$SERVICE_USER"
      run dscl . -create "/Users/$SERVICE_USER" UniqueID "$account_id"
      run dscl . -create "/Users/$SERVICE_USER" PrimaryGroupID "$account_id"
      run dscl . -create "/Users/$SERVICE_USER" NFSHomeDirectory "$DATA_DIR"
      run dscl . -create "/Users/$SERVICE_USER" UserShell /usr/bin/false
      run dscl . -create "/Users/$SERVICE_USER" RealName "crosstalk engine"
      run dscl . -create "/Users/$SERVICE_USER" IsHidden 1
      ;;
    *)
      echo "error: cannot create users on $(uname -s) from this script: create a user and group" \
        "'$SERVICE_USER' with home $DATA_DIR, then run it again" >&2
      exit 69
      ;;
  esac
fi

# The service user owns its data and logs; the settings stay root's, readable by the service.
run install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$DATA_DIR"
run install -d -m 0750 -o root -g "$SERVICE_USER" "$CONFIG_DIR"
run install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$LOG_DIR"

# The unit template, as `crosstalk service install --system` would write it, so that
# `systemctl enable --now crosstalk@NAME` works as soon as NAME's transport exists.
template=none
if [ "$(uname -s)" = Linux ] && [ -d "$UNIT_DIR" ] && command -v systemctl >/dev/null 2>&1; then
  unit="$UNIT_DIR/crosstalk@.service"
  if [ -e "$unit" ]; then
    template=kept
    echo "unit template $unit exists (crosstalk service install --system --force rewrites it)"
  elif command -v crosstalk >/dev/null 2>&1; then
    template=written
    if [ "$DRY_RUN" = 1 ]; then
      echo "crosstalk service print --system --systemd > $unit"
    else
      # Written next to its place and renamed: systemd never reads half a unit.
      # A print that fails leaves no half unit behind, and stops the script.
      if ! crosstalk service print --system --systemd >"$unit.tmp"; then
        rm -f "$unit.tmp"
        echo "crosstalk service print failed: $unit not written" >&2
        exit 1
      fi
      chmod 0644 "$unit.tmp"
      mv "$unit.tmp" "$unit"
    fi
    run systemctl daemon-reload
  else
    echo "crosstalk is not on PATH: install it, then run this again to write $unit"
  fi
fi

echo "ready: $DATA_DIR, $CONFIG_DIR, $LOG_DIR for user '$SERVICE_USER'"
echo "next, for a transport NAME:"
echo "  sudo -u $SERVICE_USER crosstalk transport init --path $DATA_DIR/NAME/transport"
if [ "$template" = none ]; then
  echo "  sudo crosstalk service install --system --containername NAME"
else
  echo "  sudo systemctl enable --now crosstalk@NAME"
fi
