#!/bin/sh
# Runs `huzhu start` as the unprivileged huzhu user (uid 10001).
# Why a script: key files generated on the host are 0600 and owned by the host user, which the
# container's uid cannot read. As root we copy the node's files from the read-only /config
# mount into the /data volume, hand /data to huzhu, then drop privileges for good.
# /config is optional: without it /data must already hold config.toml, genesis.json and
# node_key.json. Its files overwrite those in /data on every start: edit them in /config.
# Arguments starting with "-" go to `huzhu start` (default: --home /data); anything else is
# run as a command, e.g. `docker run --rm IMAGE huzhu --help`.
set -eu

copy_config() {
  [ -d /config ] || return 0
  for f in config.toml genesis.json node_key.json; do
    if [ -f "/config/$f" ]; then cp "/config/$f" "/data/$f"; fi
  done
  if [ -f /data/node_key.json ]; then chmod 0600 /data/node_key.json; fi
}

if [ "$#" -eq 0 ]; then set -- --home /data; fi
if [ "${1#-}" != "$1" ]; then
  set -- huzhu start "$@"
  start=1
else
  start=0
fi

if [ "$(id -u)" = "0" ]; then
  if [ "$start" = "1" ]; then
    copy_config
    # only what is not huzhu's already: cheap on a large LevelDB
    find /data \( \! -user huzhu -o \! -group huzhu \) -exec chown -h huzhu:huzhu {} +
    chmod 0700 /data
  fi
  # setpriv keeps the environment: give the unprivileged process its own HOME
  export HOME=/data USER=huzhu LOGNAME=huzhu
  exec setpriv --reuid=huzhu --regid=huzhu --init-groups -- "$@"
fi
# already unprivileged (e.g. `docker run --user 10001`): /config must be readable by us
if [ "$start" = "1" ]; then copy_config; fi
exec "$@"
