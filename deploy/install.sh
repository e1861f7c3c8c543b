#!/bin/sh
# Prepares this machine for crosstalk in system mode: the `crosstalk` service user and the
# directories the service uses. Safe to run again: it creates what is missing and sets the
# owners and modes of what is there. Needs root.
#
#   sudo sh deploy/install.sh [--dry-run]
#
# Then, for each transport NAME:
#   sudo -u crosstalk crosstalk transport init --path /var/lib/crosstalk/NAME/transport
#   sudo crosstalk service install --system --containername NAME
set -eu

SERVICE_USER=crosstalk
DATA_DIR=/var/lib/crosstalk
CONFIG_DIR=/etc/crosstalk
LOG_DIR=/var/log/crosstalk
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

echo "ready: $DATA_DIR, $CONFIG_DIR, $LOG_DIR for user '$SERVICE_USER'"
echo "next, for a transport NAME:"
echo "  sudo -u $SERVICE_USER crosstalk transport init --path $DATA_DIR/NAME/transport"
echo "  sudo crosstalk service install --system --containername NAME"
