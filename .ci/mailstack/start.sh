#!/usr/bin/env bash
# Start a private Postfix + Dovecot mail stack on loopback, entirely under DIR.
#
#   .ci/mailstack/start.sh DIR      # then: source DIR/env
#   .ci/mailstack/stop.sh DIR
#
# Runs as root, needs no stdin. Installs postfix/dovecot with apt-get when they
# are missing. Nothing of the system's default Postfix/Dovecot instances is used
# except that the default Postfix main.cf must list our config directory in
# alternate_config_directories (Postfix's rule for `postfix -c`).
#
# Listeners (override with the env vars in brackets):
#   127.0.0.1:10025  plain SMTP, no AUTH, no STARTTLS; accepts mail for example.test
#                    [MAILSCRIPT_STACK_SMTP_PORT]
#   127.0.0.1:10587  submission: STARTTLS offered (not required), AUTH required to
#                    send, AUTH also offered in cleartext (smtpd_tls_auth_only=no)
#                    [MAILSCRIPT_STACK_SUBMISSION_PORT]
#   127.0.0.1:10465  implicit TLS (wrapper mode), AUTH required to send
#                    [MAILSCRIPT_STACK_SMTPS_PORT]
#   127.0.0.1:10588  submission like 10587, but SASL by Cyrus SASL (sasldb) rather
#                    than Dovecot: NTLM, SCRAM, DIGEST-MD5, CRAM-MD5, PLAIN, LOGIN
#                    from a second, independent server implementation
#                    [MAILSCRIPT_STACK_CYRUS_PORT]
#   127.0.0.1:10143  Dovecot IMAP (STARTTLS available, plaintext login allowed)
#                    [MAILSCRIPT_STACK_IMAP_PORT]
#
# Mail for anything outside example.test is refused or bounced locally: this
# stack never sends mail to the outside world.
#
# Layout under DIR:
#   env                         shell-sourceable exports (MAILSCRIPT_STACK_*)
#   postfix.log, dovecot.log    logs
#   tls/ca.pem, tls/ca.key      private CA
#   tls/server.pem, server.key  server cert (SAN DNS:localhost, IP:127.0.0.1)
#   postfix/conf/               main.cf, master.cf, vmailbox
#   postfix/conf/sasl/          Cyrus SASL: smtpd.conf, sasldb2
#   postfix/queue/, postfix/data/
#   dovecot/dovecot.conf, dovecot/passwd, dovecot/run/ (base_dir), dovecot/state/
#   mail/<user>/Maildir/        delivered mail (owned by the vmail user)
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "$0: must run as root" >&2
	exit 2
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)

SMTP_PORT=${MAILSCRIPT_STACK_SMTP_PORT:-10025}
SUBMISSION_PORT=${MAILSCRIPT_STACK_SUBMISSION_PORT:-10587}
SMTPS_PORT=${MAILSCRIPT_STACK_SMTPS_PORT:-10465}
IMAP_PORT=${MAILSCRIPT_STACK_IMAP_PORT:-10143}
CYRUS_PORT=${MAILSCRIPT_STACK_CYRUS_PORT:-10588}
HOST=127.0.0.1
DOMAIN=example.test
VMAIL_USER=vmail

# Test users: name and password. Passwords are fixed so that failures are
# reproducible; they are for this throwaway loopback stack only.
USERS=(alice bob carol)
declare -A PASSWORDS=(
	[alice]='Alice-pw-7f3k'
	[bob]='Bob-pw-Q9x2m'
	[carol]='Carol-pw-h4Zr8'
)

PF_CONF=$DIR/postfix/conf
PF_QUEUE=$DIR/postfix/queue
PF_DATA=$DIR/postfix/data
PF_SASL=$PF_CONF/sasl # where Debian's Postfix looks, whatever cyrus_sasl_config_path says
DV_DIR=$DIR/dovecot
DV_CONF=$DV_DIR/dovecot.conf
DV_RUN=$DV_DIR/run
TLS=$DIR/tls

log() { echo "mailstack: $*" >&2; }

# ---------------------------------------------------------------- packages ---
export PATH=$PATH:/usr/sbin:/sbin
if ! command -v postfix >/dev/null || ! command -v dovecot >/dev/null ||
	! command -v openssl >/dev/null || [[ ! -x /usr/lib/dovecot/lmtp ]] ||
	[[ ! -x /usr/lib/dovecot/imap ]] || ! command -v saslpasswd2 >/dev/null ||
	[[ ! -e /usr/lib/x86_64-linux-gnu/sasl2/libntlm.so && ! -e /usr/lib/aarch64-linux-gnu/sasl2/libntlm.so ]]; then
	log "installing postfix, dovecot, openssl, cyrus sasl"
	# "No configuration": the package must not set up (or start) a default instance.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -q </dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		postfix dovecot-core dovecot-imapd dovecot-lmtpd openssl \
		sasl2-bin libsasl2-modules </dev/null
fi

# Stop whatever a previous start left running in this DIR (idempotent-ish).
"$HERE/stop.sh" "$DIR" >/dev/null 2>&1 || true

# Refuse to start when the ports are taken (e.g. a stack from another DIR).
for p in "$SMTP_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT" "$IMAP_PORT" "$CYRUS_PORT"; do
	if (exec 3<>"/dev/tcp/$HOST/$p") 2>/dev/null; then
		log "port $HOST:$p is already in use (another mail stack running? stop it with stop.sh OTHERDIR)"
		ss -ltnp 2>/dev/null | grep ":$p " >&2 || true
		exit 1
	fi
done

# -------------------------------------------------------------- vmail user ---
if ! getent passwd "$VMAIL_USER" >/dev/null; then
	log "creating system user $VMAIL_USER"
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin "$VMAIL_USER"
fi
VMAIL_UID=$(id -u "$VMAIL_USER")
VMAIL_GID=$(id -g "$VMAIL_USER")

# mktemp -d makes 0700 dirs; postfix/dovenull must be able to reach the sockets.
chmod 0755 "$DIR"
mkdir -p "$PF_CONF" "$PF_QUEUE" "$DV_DIR" "$DV_DIR/state" "$TLS" "$DIR/mail"
chmod 0755 "$DIR/postfix" "$PF_CONF" "$PF_QUEUE" "$DV_DIR" "$DIR/mail"
install -d -o postfix -g postfix -m 0700 "$PF_DATA"

# ------------------------------------------------------------ certificates ---
# A private CA and a server certificate signed by it; kept across restarts.
if [[ ! -s $TLS/server.pem || ! -s $TLS/ca.pem ]]; then
	log "generating CA and server certificate"
	(
		cd "$TLS"
		umask 077
		openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
			-keyout ca.key -out ca.pem -subj "/O=mailscript test/CN=mailscript test CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -sha256 \
			-keyout server.key -out server.csr -subj "/O=mailscript test/CN=localhost" 2>/dev/null
		cat >server.ext <<-EOF
			basicConstraints=critical,CA:FALSE
			keyUsage=critical,digitalSignature,keyEncipherment
			extendedKeyUsage=serverAuth
			subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:mail.$DOMAIN
		EOF
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-days 3650 -sha256 -extfile server.ext -out server.pem 2>/dev/null
		rm -f server.csr server.ext ca.srl
		chmod 0644 ca.pem server.pem
	)
fi
chmod 0755 "$TLS"

# ----------------------------------------------------------------- dovecot ---
# passwd-file: user:{PLAIN}password:uid:gid:gecos:home:shell:extra ({PLAIN}
# lets Dovecot offer the challenge-response mechanisms too).
: >"$DV_DIR/passwd"
for u in "${USERS[@]}"; do
	echo "$u@$DOMAIN:{PLAIN}${PASSWORDS[$u]}::::::" >>"$DV_DIR/passwd"
	install -d -o "$VMAIL_USER" -g "$VMAIL_USER" -m 0700 \
		"$DIR/mail/$u" "$DIR/mail/$u/Maildir" \
		"$DIR/mail/$u/Maildir/new" "$DIR/mail/$u/Maildir/cur" "$DIR/mail/$u/Maildir/tmp"
done
chown root:dovecot "$DV_DIR/passwd"
chmod 0640 "$DV_DIR/passwd"

cat >"$DV_CONF" <<EOF
# Private Dovecot instance for mailscript's integration tests (generated by start.sh).
instance_name = mailscript-dovecot
base_dir = $DV_RUN
state_dir = $DV_DIR/state
log_path = $DIR/dovecot.log
info_log_path = $DIR/dovecot.log
debug_log_path = $DIR/dovecot.log

protocols = imap lmtp
listen = $HOST
shutdown_clients = yes

ssl = yes
ssl_cert = <$TLS/server.pem
ssl_key = <$TLS/server.key
disable_plaintext_auth = no

auth_mechanisms = plain login cram-md5 digest-md5 scram-sha-1 scram-sha-256
auth_verbose = yes
# Tests try wrong passwords on purpose: no 2 s failure delay (a failed AUTH
# still takes ~0.5 s: Dovecot flushes failures on a 500 ms timer).
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DV_DIR/passwd
}
userdb {
  driver = static
  args = uid=$VMAIL_UID gid=$VMAIL_GID home=$DIR/mail/%n
}
first_valid_uid = 1
mail_location = maildir:~/Maildir

service imap-login {
  inet_listener imap {
    address = $HOST
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
# Postfix's lmtp client and smtpd (SASL) run as user postfix.
service lmtp {
  unix_listener lmtp {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
# No per-IP auth penalty (2s, 4s, 8s... after failed logins; the passwd-file's
# "nopenalty" does not prevent it): without the anvil-auth-penalty socket the
# auth process skips it, logging "net_connect_unix(anvil-auth-penalty) failed"
# (harmless) on each login.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
protocol lmtp {
  postmaster_address = postmaster@$DOMAIN
}
EOF

# ----------------------------------------------------------------- postfix ---
# The default instance must list our config dir in alternate_config_directories.
# With "No configuration" there is no /etc/postfix/main.cf yet.
[[ -e /etc/postfix/main.cf ]] || touch /etc/postfix/main.cf
{
	# Keep existing entries, drop stale ones from earlier (deleted) stacks.
	for d in $(postconf -h alternate_config_directories 2>/dev/null | tr ',' ' '); do
		if [[ $d == */postfix/conf && ! -d $d ]]; then continue; fi
		[[ $d == "$PF_CONF" ]] && continue
		echo "$d"
	done
	echo "$PF_CONF"
} >"$DIR/.altdirs"
postconf -e "alternate_config_directories = $(paste -sd ' ' "$DIR/.altdirs")"
rm -f "$DIR/.altdirs"

echo "$(for u in "${USERS[@]}"; do echo "$u@$DOMAIN $u/Maildir/"; done)" >"$PF_CONF/vmailbox"

cat >"$PF_CONF/main.cf" <<EOF
# Private Postfix instance for mailscript's integration tests (generated by start.sh).
compatibility_level = 3.6
config_directory = $PF_CONF
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-mailscript
maillog_file = $DIR/postfix.log
maillog_file_prefixes = $DIR
inet_interfaces = $HOST
inet_protocols = ipv4
biff = no

# Nothing here may need DNS.
myhostname = mail.$DOMAIN
mydomain = $DOMAIN
myorigin = $DOMAIN
mydestination =
mynetworks =
relay_domains =
smtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
smtpd_peername_lookup = no
alias_maps =
alias_database =
local_recipient_maps =

# Virtual mailboxes, delivered by Dovecot LMTP.
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = texthash:$PF_CONF/vmailbox
virtual_transport = lmtp:unix:$DV_RUN/lmtp
# Never send mail anywhere else.
default_transport = error:mailscript test stack does not send outside $DOMAIN
relay_transport = error:mailscript test stack does not send outside $DOMAIN

# Only example.test is accepted; relaying for authenticated clients is allowed
# on the submission ports (their -o options add the AUTH requirement).
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions =

# SASL through Dovecot (enabled only on the submission listeners).
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DV_RUN/auth-postfix
smtpd_sasl_auth_enable = no
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
broken_sasl_auth_clients = no

# TLS (offered on the submission listeners only).
smtpd_tls_cert_file = $TLS/server.pem
smtpd_tls_key_file = $TLS/server.key
smtpd_tls_security_level = none
smtpd_tls_auth_only = no
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes

# Quick retries: a test waits seconds, not minutes.
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 30s
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
EOF

# Cyrus SASL for the second submission listener: the users and passwords of
# Dovecot's passwd file, in a sasldb (auxprop) that only postfix can read.
# ntlm_v2 makes the NTLM plugin check NTLMv2 responses, which is what
# clients send today (and what mailscript sends).
mkdir -p "$PF_SASL"
rm -f "$PF_SASL/sasldb2"
for u in "${USERS[@]}"; do
	printf '%s' "${PASSWORDS[$u]}" | saslpasswd2 -p -c -f "$PF_SASL/sasldb2" -u "$DOMAIN" "$u"
done
cat >"$PF_SASL/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $PF_SASL/sasldb2
mech_list: NTLM SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 CRAM-MD5 PLAIN LOGIN
ntlm_v2: yes
EOF
chown -R postfix:postfix "$PF_SASL"
chmod 0700 "$PF_SASL"
chmod 0600 "$PF_SASL/sasldb2"

cat >"$PF_CONF/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
$HOST:$SMTP_PORT inet n - n - - smtpd
  -o syslog_name=postfix-mailscript/smtp
$HOST:$SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=postfix-mailscript/submission
  -o smtpd_tls_security_level=may
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=no
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
$HOST:$CYRUS_PORT inet n - n - - smtpd
  -o syslog_name=postfix-mailscript/cyrus
  -o smtpd_sasl_type=cyrus
  -o smtpd_sasl_path=smtpd
  -o cyrus_sasl_config_path=$PF_SASL
  -o smtpd_sasl_local_domain=$DOMAIN
  -o smtpd_tls_security_level=may
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=no
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
$HOST:$SMTPS_PORT inet n - n - - smtpd
  -o syslog_name=postfix-mailscript/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF

# ------------------------------------------------------------------- start ---
show_logs() {
	for f in "$DIR/dovecot.log" "$DIR/postfix.log"; do
		[[ -f $f ]] || continue
		echo "---- last lines of $f" >&2
		tail -n 40 "$f" >&2
	done
}
fail() {
	log "FAILED: $*"
	show_logs
	"$HERE/stop.sh" "$DIR" >/dev/null 2>&1 || true
	exit 1
}

# The daemons must not inherit our stdout/stderr: when start.sh runs under a
# pipe (`start.sh DIR | tee`, `$(start.sh DIR)`), the reader would never see EOF.
log "starting dovecot"
dovecot -c "$DV_CONF" </dev/null >"$DIR/dovecot-start.out" 2>&1 ||
	{ cat "$DIR/dovecot-start.out" >&2; fail "dovecot did not start"; }

log "starting postfix"
# `postfix start` runs `postfix check`, which creates the queue directories.
postfix -c "$PF_CONF" start </dev/null >"$DIR/postfix-start.out" 2>&1 ||
	{ cat "$DIR/postfix-start.out" >&2; fail "postfix did not start"; }

# ----------------------------------------------------------------- readiness ---
# expect_banner PORT PREFIX: connect and read the first line of the greeting.
expect_banner() {
	local port=$1 want=$2 line=""
	exec 3<>"/dev/tcp/$HOST/$port" || return 1
	IFS= read -r -t 2 line <&3 || true
	exec 3<&- 3>&-
	[[ $line == "$want"* ]]
}
# For the implicit-TLS port: full handshake, verifying against our CA.
expect_tls_banner() {
	local out
	out=$(echo QUIT | timeout 5 openssl s_client -connect "$HOST:$1" -CAfile "$TLS/ca.pem" \
		-verify_return_error -verify_hostname localhost -quiet 2>/dev/null) || true
	[[ $out == "220 "* ]]
}

ready=""
for _ in $(seq 1 100); do # up to ~20s
	if expect_banner "$SMTP_PORT" "220 " 2>/dev/null &&
		expect_banner "$SUBMISSION_PORT" "220 " 2>/dev/null &&
		expect_banner "$CYRUS_PORT" "220 " 2>/dev/null &&
		expect_banner "$IMAP_PORT" "* OK" 2>/dev/null &&
		expect_tls_banner "$SMTPS_PORT"; then
		ready=1
		break
	fi
	sleep 0.2
done
[[ -n $ready ]] || fail "ports did not answer in time"

# --------------------------------------------------------------------- env ---
{
	q() { printf '%q' "$1"; }
	echo "# generated by .ci/mailstack/start.sh; source it"
	echo "export MAILSCRIPT_STACK=$(q "$DIR")"
	echo "export MAILSCRIPT_STACK_SMTP=$HOST:$SMTP_PORT"
	echo "export MAILSCRIPT_STACK_SUBMISSION=$HOST:$SUBMISSION_PORT"
	echo "export MAILSCRIPT_STACK_SMTPS=$HOST:$SMTPS_PORT"
	echo "export MAILSCRIPT_STACK_IMAP=$HOST:$IMAP_PORT"
	echo "export MAILSCRIPT_STACK_CYRUS=$HOST:$CYRUS_PORT"
	echo "export MAILSCRIPT_STACK_CA=$(q "$TLS/ca.pem")"
	for u in "${USERS[@]}"; do
		U=${u^^}
		echo "export MAILSCRIPT_STACK_${U}_USER=$(q "$u@$DOMAIN")"
		echo "export MAILSCRIPT_STACK_${U}_PASSWORD=$(q "${PASSWORDS[$u]}")"
		echo "export MAILSCRIPT_STACK_${U}_MAILDIR=$(q "$DIR/mail/$u/Maildir")"
	done
} >"$DIR/env"

log "ready in $DIR (source $DIR/env)"
