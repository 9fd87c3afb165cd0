#!/usr/bin/env bash
# Stop the private mail stack started by start.sh DIR. Safe to call twice, and
# on a DIR where nothing runs. Leaves DIR (mail, logs, certs) in place.
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
[[ -d $1 ]] || exit 0
DIR=$(cd "$1" && pwd -P)
export PATH=$PATH:/usr/sbin:/sbin

PF_CONF=$DIR/postfix/conf
DV_CONF=$DIR/dovecot/dovecot.conf
DV_PIDFILE=$DIR/dovecot/run/master.pid

# Postfix: only if this instance's master is running.
if [[ -f $PF_CONF/main.cf ]] && command -v postfix >/dev/null &&
	postfix -c "$PF_CONF" status >/dev/null 2>&1; then
	postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true
	# `postfix stop` returns before master has exited; wait for its lock.
	for _ in $(seq 1 50); do
		postfix -c "$PF_CONF" status >/dev/null 2>&1 || break
		sleep 0.1
	done
fi

# Dovecot: by the pid in our own base_dir, never by name.
if [[ -f $DV_PIDFILE ]]; then
	pid=$(cat "$DV_PIDFILE" 2>/dev/null || true)
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		doveadm -c "$DV_CONF" stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
fi
exit 0
