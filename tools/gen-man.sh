#!/usr/bin/env bash
# gen-man.sh RAMPART OUTDIR -- write OUTDIR/rampart.8 and OUTDIR/rampart.yaml.5.
#
# One source each: the options and exit statuses are the binary's own
# `rampart COMMAND --help` texts (the command list is read from `rampart help`,
# so a new subcommand appears without an edit here), the configuration
# reference is examples/rampart.yaml (every option with its default and a
# comment; a unit test proves it parses to the built-in defaults). What is
# written below by hand is only what no --help says: the overview, the files
# and the pointers. `make man` calls it; the Debian package and `make install`
# install what it writes.
set -euo pipefail
bin=$1 out=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$out"
version=$("$bin" version | awk '{print $2}')
# The date of the source, not of the build: the same tree gives the same
# pages (dpkg-buildpackage sets SOURCE_DATE_EPOCH from debian/changelog).
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}
date=$(date -u -d "@$epoch" +%Y-%m-%d)

# Plain text as roff lines to print without filling: backslashes escaped, a
# leading dot or quote (a request to roff) neutralised, dashes kept as minus
# signs (they are options to type).
verbatim() {
  sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}

# --- rampart(8) -------------------------------------------------------------
{
  cat <<EOF
.TH RAMPART 8 "$date" "rampart $version" "System Administration"
.SH NAME
rampart \\- find and stop abusive automation against HTTP APIs
.SH SYNOPSIS
.B rampart
.I COMMAND
.RI [ ARGS ]
.SH DESCRIPTION
Rampart tells abusive automation (credential stuffing, floods, scanners,
scrapers, object\\-id enumeration, probes of undocumented endpoints) from
legitimate clients by what each client does, and explains every verdict
with the numbers behind it.
.PP
.B rampart serve
is the daemon: it receives one event per request from nginx's
.B ngx_http_rampart_module
(package libnginx\\-mod\\-http\\-rampart), from nginx's syslog output or from
an access log, decides within a millisecond, and publishes its decisions in a
shared decision table that nginx reads to answer 403 or 429 itself. It keeps
incidents and decisions in SQLite and answers an admin API with a dashboard
(by default on http://127.0.0.1:9090/ui/).
.B rampart analyze
runs the same detection over access logs, offline.
.PP
The other commands check a configuration, list and change the daemon's
decisions, replay logs into it and train the anomaly detector. Each is
described below by its own
.B \\-\\-help
text.
.SH COMMANDS
EOF
  # "  name   summary" lines of the Commands: section of `rampart help`
  "$bin" help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }' |
    while read -r cmd; do
      case $cmd in help | version) continue ;; esac
      echo ".SS rampart $cmd"
      echo ".nf"
      # a command without --help of its own still gets its summary line
      if help=$("$bin" "$cmd" --help 2>&1); then
        printf '%s\n' "$help" | verbatim
      else
        "$bin" help | awk -v c="$cmd" '$1 == c { $1 = ""; sub(/^ +/, ""); print }' | verbatim
      fi
      echo ".fi"
    done
  cat <<'EOF'
.SS rampart version
Print the version.
.SH FILES
.TP
.I /etc/rampart/rampart.yaml
The configuration, see
.BR rampart.yaml (5).
Check it with
.BR "rampart check\-config" ,
reload it with
.BR "systemctl reload rampart" .
.TP
.I /etc/rampart/admin.token
The admin API's bearer token, required for changes
.RB ( "rampart decisions \-t" ).
Created at installation, readable by the rampart user only.
.TP
.I /var/lib/rampart/rampart.db
The SQLite store: incidents, decisions, the route inventory. Back it up
while the daemon runs with
.BR "sqlite3 /var/lib/rampart/rampart.db \(dq.backup /backup/rampart.db\(dq" .
.TP
.I /run/rampart/events.sock
The unix datagram socket nginx's module sends events to (group www\-data).
.TP
.I /run/rampart/decisions.tbl
The decision table nginx reads.
.TP
.I /lib/systemd/system/rampart.service
The hardened systemd unit (user rampart, no capabilities, read\-only system).
.TP
.I /usr/share/doc/rampart/
The documentation: install.md (adding Rampart to an existing nginx),
deployment.md, configuration.md, nginx.md, api.md, security.md.
.SH EXIT STATUS
As given under each command; 1 is a usage or configuration error everywhere.
.SH SEE ALSO
.BR rampart.yaml (5),
.BR nginx (8),
.BR sqlite3 (1)
EOF
} > "$out/rampart.8"

# --- rampart.yaml(5) --------------------------------------------------------
{
  cat <<EOF
.TH RAMPART.YAML 5 "$date" "rampart $version" "File Formats"
.SH NAME
rampart.yaml \\- configuration of rampart analyze and rampart serve
.SH DESCRIPTION
One YAML file configures Rampart. Every option has a built\\-in default, so
an empty file (or no file) is a working configuration.
.B rampart check\\-config
.I FILE
prints every mistake as
.IR FILE : LINE : COL ": message"
and exits 1; the daemon and
.B rampart analyze
refuse a file with a mistake. Unknown keys, duplicated keys, out\\-of\\-range
values and a second YAML document are errors.
.PP
The daemon reads the file at start and again on SIGHUP
.RB ( "systemctl reload rampart" ):
profiles, thresholds, allowlists, routes and the token are replaced and a
bad file is rejected with the old one kept; the
.B serve
section and table sizes need a restart.
.SH VALUES
.TP
.B durations
250ms, 30s, 5m, 1h, 2d, or a bare number of seconds; at most 365d.
.TP
.B sizes
bytes, or with a binary suffix: 512KiB, 64MiB, 1GiB.
.TP
.B CIDRs
10.0.0.0/8, 2001:db8::/32; a bare address is one host.
.TP
.B host:port
127.0.0.1:9090, [::1]:9090 or localhost:9090; names are not resolved.
.TP
.B route globs
a template (/users/{id}, where {x} is one segment) with an optional
trailing *.
.SH SECTIONS
.TP
.B engine
client table sizes (memory is at most 512 bytes per tracked client), the key
levels watched, the route inventory's bound.
.TP
.B inventory
an OpenAPI document, learned route templates, routes declared by hand.
.TP
.BR allow ", " trusted_proxies ", " session ", " auth
clients never scored, proxies whose X\\-Forwarded\\-For is believed, the
session cookie, the login username field.
.TP
.BR profiles ", " routes
detection profiles (a tolerance preset, reaction thresholds and durations,
each detector's weight and thresholds) and the rules that give routes a
profile or exceptions.
.TP
.B serve
the daemon: its inputs, who may send events, the decision table, the store,
the admin API and its token, retention.
.TP
.B cluster
fleet mode over Redis (several nginx hosts, one set of decisions).
.SH EVERY OPTION WITH ITS DEFAULT
The file below is examples/rampart.yaml of the source tree; it parses to
exactly the built\\-in defaults. The packaged
.I /etc/rampart/rampart.yaml
is this file with
.B serve.token_file
set to
.IR /etc/rampart/admin.token .
.PP
.nf
EOF
  verbatim < "$root/examples/rampart.yaml"
  cat <<'EOF'
.fi
.SH FILES
.TP
.I /etc/rampart/rampart.yaml
the daemon's configuration (root:rampart, 0640).
.TP
.I /usr/share/doc/rampart/configuration.md
the full reference, with each detector's thresholds explained.
.SH SEE ALSO
.BR rampart (8)
EOF
} > "$out/rampart.yaml.5"
echo "$out/rampart.8 $out/rampart.yaml.5"
