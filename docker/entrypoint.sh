#!/bin/sh
# Runs `huzhu start` as the unprivileged huzhu user.
# Why a script: key files generated on the host are 0600 and owned by the host user, which the
# container's uid cannot read. As root we copy the node's files from the read-only /config
# mount into the /data volume, hand /data to huzhu, then drop privileges for good.
set -eu
if [ "$(id -u)" = "0" ]; then
  if [ -d /config ]; then
    for f in config.toml genesis.json node_key.json; do
      if [ -f "/config/$f" ]; then cp "/config/$f" "/data/$f"; fi
    done
  fi
  chown -R huzhu:huzhu /data
  chmod 0700 /data
  [ -f /data/node_key.json ] && chmod 0600 /data/node_key.json
  exec setpriv --reuid=huzhu --regid=huzhu --init-groups huzhu start "$@"
fi
exec huzhu start "$@"
