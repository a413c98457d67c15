# The appliance's settings (sourced by /init; test/appliance/settings.test.ts runs it on the host):
# appliance.conf's key=value lines from the config disk, then the kernel command line's
# tandem.KEY=VALUE, each checked before it is kept, so that what /run/tandem/env holds (sourced by
# the helpers) is only values of their expected form. Secrets (the cluster key, the API token, the
# console's password hash) never come from the command line: anyone who can read /proc/cmdline, the
# boot loader's config or a VM's definition would have them.
NODE= ; IPS= ; GW= ; LOG=file ; CFGWAIT=5 ; PASSWORD_HASH= ; DATA=
# Where a command line's config is written (not from the environment: the kernel passes its unknown
# KEY=VALUE words to init as environment).
CONFIG_DIR=/run/tandem/config
say() { echo "tandem-appliance: $*"; }

# matches ERE VALUE: VALUE is one line matching ERE whole.
matches() {
  case "$2" in *'
'*) return 1 ;; esac
  printf '%s\n' "$2" | grep -Eqx -- "$1"
}

IPV4='([0-9]{1,3}\.){3}[0-9]{1,3}'
NAME='[a-z][a-z0-9-]{0,30}'
# crypt(3) as busybox's login checks it: MD5 ($1$), SHA-256 ($5$), SHA-512 ($6$), optional rounds.
CRYPT='\$[156]\$(rounds=[0-9]{1,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{22,86}'

# setting SOURCE KEY VALUE: SOURCE is "disk" (appliance.conf) or "cmdline"; a bad value is refused and said.
setting() {
  case "$2" in
    node) matches "$NAME" "$3" && NODE=$3 ;;
    ip) matches "[A-Za-z0-9_.-]{1,15}:$IPV4/[0-9]{1,2}" "$3" && IPS="$IPS $3" ;;
    gw) matches "$IPV4" "$3" && GW=$3 ;;
    log) matches 'file|console' "$3" && LOG=$3 ;;
    cfgwait) matches '[0-9]{1,3}' "$3" && CFGWAIT=$3 ;;
    config) matches '[A-Za-z0-9+/]+={0,2}' "$3" && printf '%s' "$3" | base64 -d > "$CONFIG_DIR/tandem.toml" ;;
    password_hash)
      if [ "$1" != disk ]; then say "password_hash on the kernel command line is ignored: put it in appliance.conf on the config disk"; return 0; fi
      matches "$CRYPT" "$3" && PASSWORD_HASH=$3 ;;
    key|token) say "tandem.$2 is ignored: the cluster key and the API token come from the config disk, never from the command line"; return 0 ;;
    *) say "unknown setting \"$2\" ignored"; return 0 ;;
  esac || say "setting $2 ignored: \"$3\" is not a valid value"
}

# settings_from_conf FILE: appliance.conf's lines.
settings_from_conf() {
  while IFS='=' read -r k v; do
    case "$k" in ''|\#*) continue ;; esac
    setting disk "$k" "$v"
  done < "$1"
}

# settings_from_cmdline CMDLINE: its tandem.KEY=VALUE words.
settings_from_cmdline() {
  for arg in $1; do
    case "$arg" in tandem.*=*) k=${arg%%=*}; setting cmdline "${k#tandem.}" "${arg#*=}" ;; esac
  done
}

# write_env FILE: the checked settings the helpers source (DATA is findfs's device path).
write_env() {
  matches '/dev/[A-Za-z0-9/_-]+' "$DATA" || DATA=
  cat > "$1" <<ENV
NODE='$NODE'
LOG='$LOG'
DATA='$DATA'
ENV
}
