/**
 * keepalived's keywords that have no Tandem counterpart, and why, block by
 * block. The lists are keepalived 2.4's (what its parsers install), so that
 * a keyword keepalived knew is a note or a warning and anything else an
 * error. Keywords the import reads are not here: each block's reader names
 * them.
 */
import type { Level } from "../findings.ts";

export type Reason = readonly [Level, string];

const note = (text: string): Reason => ["note", text];
const warning = (text: string): Reason => ["warning", text];

const EMAIL = note("Tandem sends no email; its events stream from /v1/events and are logged");
const SNMP = note("Tandem has no SNMP agent; its metrics are at /metrics (Prometheus)");
const NOTIFY = note("Tandem runs no notify scripts; its events stream from /v1/events and are logged");
const OWN = note("a setting of keepalived's own process or files");
const PROCESS = note("a process setting: Tandem is one process, and its service manager sets its priority and limits");
const VRRP = note("a VRRP setting: Tandem's heartbeat replaces VRRP");
const GARP = note("gratuitous ARP timing: the address agent announces an address when it takes it (its announce_count and announce_interval)");
const TRACK_DEFINITION = note("what it defines is tracked by vrrp_instance's track_* keywords, each a warning where it is used");
const INTERFACES = note("how keepalived watched interfaces for VRRP; the address agent fails its monitor when its interface is gone");
const STATE_SCRIPT = warning("a script run on a VRRP state change: Tandem runs none; what it started or stopped belongs in the group as a resource (an exec resource runs commands to start, stop and monitor)");
const TRACK = warning("a VRRP instance failed over on it: Tandem moves a group when a member's monitor fails or the node loses quorum; [heartbeat.ping] tells a node cut off from its network");
const CHECK_SCRIPT = warning("a script run when a real server's state changes: Tandem runs none; its checks.server events say it");
const CHECK_SOURCE = note("Tandem checks from the address and port the system chooses");
const FIRST_CHECK = note("Tandem spreads the first checks of its servers over the interval by itself");
const RETRY_DELAY = note("Tandem checks every interval, after a failure too, so a server is down after fall × interval");

/** Top-level keywords and blocks. */
export const ROOT = new Map<string, Reason>([
  ["vrrp_script", TRACK_DEFINITION],
  ["vrrp_track_process", TRACK_DEFINITION],
  ["track_file", TRACK_DEFINITION],
  ["vrrp_track_file", TRACK_DEFINITION],
  ["track_group", TRACK_DEFINITION],
  ["bfd_instance", TRACK_DEFINITION],
  ["garp_group", GARP],
  ["linkbeat_interfaces", INTERFACES],
  ["interface_up_down_delays", INTERFACES],
  ["linkbeat_use_polling", INTERFACES],
  ["static_ipaddress", warning("addresses every node holds are the node's own network setup, not the cluster's: keep them in the system's network configuration")],
  ["static_routes", warning("routes every node holds are the node's own network setup, not the cluster's: keep them in the system's network configuration")],
  ["static_rules", warning("rules every node holds are the node's own network setup, not the cluster's: keep them in the system's network configuration")],
  ["net_namespace", warning("Tandem runs in the network namespace it is started in (ip netns exec NAME tandem run)")],
  ["net_namespace_ipvs", warning("Tandem runs in the network namespace it is started in (ip netns exec NAME tandem run)")],
  ["namespace_with_ipsets", OWN],
  ["use_pid_dir", OWN],
  ["instance", OWN],
  ["child_wait_time", OWN],
]);

/** Every keyword of global_defs but router_id (the node's name). */
const GLOBAL_DEFS = `process_names process_name vrrp_process_name checker_process_name lvs_process_name bfd_process_name
use_symlink_paths set_supplementary_groups notification_email_from smtp_server smtp_helo_name smtp_connect_timeout
notification_email smtp_alert startup_script startup_script_timeout shutdown_script shutdown_script_timeout
max_auto_priority min_auto_priority_delay smtp_alert_vrrp smtp_alert_checker checker_log_all_failures dynamic_interfaces
no_email_faults default_interface disable_local_igmp v3_checksum_as_v2 lvs_timeouts lvs_flush lvs_flush_on_stop
lvs_flush_onstop lvs_sync_daemon vrrp_mcast_group4 vrrp_mcast_group6 vrrp_garp_master_delay vrrp_garp_master_repeat
vrrp_garp_master_refresh vrrp_garp_master_refresh_repeat vrrp_garp_lower_prio_delay vrrp_garp_lower_prio_repeat
lvs_sync_daemon_interface lvs_sync_daemon_inteface garp_master_delay garp_master_repeat garp_master_refresh
garp_master_refresh_repeat garp_lower_prio_delay garp_lower_prio_repeat vrrp_down_timer_adverts vrrp_garp_interval vrrp_gna_interval vrrp_min_garp vrrp_garp_extra_if vrrp_vmac_garp_intvl
vrrp_lower_prio_no_advert vrrp_higher_prio_send_advert vrrp_version vrrp_iptables vrrp_ipsets nftables nftables_priority
nftables_ifindex vrrp_check_unicast_src vrrp_skip_check_adv_addr vrrp_strict vrrp_priority vrrp_no_swap vrrp_rt_priority
vrrp_cpu_affinity vrrp_rlimit_rttime vrrp_rlimit_rtime nftables_ipvs nftables_ipvs_priority nftables_ipvs_start_fwmark
nftables_counters notify_fifo notify_fifo_script vrrp_notify_fifo vrrp_notify_fifo_script vrrp_notify_priority_changes
fifo_write_vrrp_states_on_reload lvs_notify_fifo lvs_notify_fifo_script checker_priority checker_no_swap
checker_rt_priority checker_cpu_affinity checker_rlimit_rttime checker_rlimit_rtime bfd_priority bfd_no_swap
bfd_rt_priority bfd_cpu_affinity bfd_rlimit_rttime bfd_rlimit_rtime snmp_socket enable_traps enable_snmp_vrrp
enable_snmp_keepalived enable_snmp_rfc enable_snmp_rfcv2 enable_snmp_rfcv3 enable_snmp_checker
snmp_vs_stats_update_interval snmp_rs_stats_update_interval enable_dbus dbus_service_name dbus_no_interface_name
script_user enable_script_security vrrp_netlink_cmd_rcv_bufs vrrp_netlink_cmd_rcv_bufs_force
vrrp_netlink_monitor_rcv_bufs vrrp_netlink_monitor_rcv_bufs_force process_monitor_rcv_bufs
process_monitor_rcv_bufs_force lvs_netlink_cmd_rcv_bufs lvs_netlink_cmd_rcv_bufs_force lvs_netlink_monitor_rcv_bufs
lvs_netlink_monitor_rcv_bufs_force rs_init_notifies no_checker_emails vrrp_rx_bufs_policy vrrp_rx_bufs_multiplier
vrrp_startup_delay vrrp_delay_after_boot log_unknown_vrids vrrp_owner_ignore_adverts vmac_prefix vmac_addr_prefix umask
random_seed reload_check_config reload_time_file reload_repeat reload_file include_check config_save_dir
tmp_config_directory data_use_instance json_version iproute_usr_dir iproute_etc_dir state_dump_file stats_dump_file
json_dump_file`.split(/\s+/);

/** Why a global_defs keyword is not imported, by its kind; first match wins. */
const GLOBAL_RULES: ReadonlyArray<readonly [RegExp, Reason]> = [
  [/^(notification_email|smtp_)|email/, EMAIL],
  [/snmp|^enable_traps$/, SNMP],
  [/dbus/, note("Tandem has no D-Bus interface; its HTTP API and events do that work")],
  [/fifo|^rs_init_notifies$|^vrrp_notify_priority_changes$/, NOTIFY],
  [/^(startup|shutdown)_script/, note("scripts around the daemon's start and stop belong to the service manager (ExecStartPre=, ExecStopPost=)")],
  [/^garp_/, GARP],
  [/^lvs_flush/, note("the director decides what the kernel's IPVS table holds")],
  [/^lvs_timeouts$/, note("IPVS connection timeouts are the kernel's: ipvsadm --set TCP TCPFIN UDP sets them")],
  [/^(script_user|enable_script_security)$/, note("Tandem runs agents and checks as its own user")],
  [/^checker_log_all_failures$/, note("Tandem logs every change of a real server's state")],
  [/^nftables/, note("keepalived's own nftables rules (VRRP strict mode, IPVS by nftables): the director writes its own")],
  [/(^|_)(priority|no_swap|cpu_affinity|rlimit_rttime|rlimit_rtime)$|process_name|rcv_bufs|^umask$/, PROCESS],
  [/^(vrrp_|vmac_)|^(v3_checksum_as_v2|disable_local_igmp|dynamic_interfaces|default_interface|log_unknown_vrids|min_auto_priority_delay)$/, VRRP],
];

export const GLOBAL_DEFS_KEYWORDS: readonly string[] = GLOBAL_DEFS;

export function globalDefsReason(keyword: string): Reason | undefined {
  if (!GLOBAL_DEFS.includes(keyword)) return undefined;
  return GLOBAL_RULES.find(([re]) => re.test(keyword))?.[1] ?? OWN;
}

const VRRP_ONLY = `unicast_fault_no_peer check_unicast_src old_unicast_checksum native_ipv6 vrf dont_track_primary mcast_dst_ip
track_src_ip unicast_ttl version no_virtual_ipaddress promote_secondaries linkbeat_use_polling v3_checksum_as_v2 accept
no_accept skip_check_adv_addr strict_mode debug down_timer_adverts timer_expired_backup thread_timer_expired
lower_prio_no_advert higher_prio_send_advert owner_ignore_adverts kernel_rx_buf_size`.split(/\s+/);

/** vrrp_instance's keywords the import does not read. */
export const VRRP_INSTANCE = new Map<string, Reason>([
  ...VRRP_ONLY.map((k) => [k, VRRP] as const),
  ...["use_vmac", "use_vmac_addr", "vmac_xmit_base", "use_ipvlan"].map((k) => [k, warning("Tandem puts an address on the interface itself, with the interface's MAC address: there is no VRRP virtual MAC")] as const),
  ...["garp_master_delay", "garp_master_refresh", "garp_master_repeat", "garp_master_refresh_repeat", "garp_lower_prio_delay", "garp_lower_prio_repeat", "garp_extra_if", "vmac_garp_intvl"].map((k) => [k, GARP] as const),
  ...["notify_backup", "notify_master", "notify_fault", "notify_stop", "notify_deleted", "notify", "notify_master_rx_lower_pri"].map((k) => [k, STATE_SCRIPT] as const),
  ...["track_interface", "track_script", "track_file", "track_process", "track_bfd"].map((k) => [k, TRACK] as const),
  ["notify_priority_changes", NOTIFY],
  ["smtp_alert", EMAIL],
  ["virtual_routes", warning("routes that follow the addresses are not imported: ocf:heartbeat:Route holds a route as a resource of the group")],
  ["virtual_rules", warning("routing rules that follow the addresses are not imported: hold them with a resource of the group (an exec resource running ip rule)")],
]);

/** vrrp_sync_group's keywords the import does not read (it reads group). */
export const SYNC_GROUP = new Map<string, Reason>([
  ...["track_interface", "track_script", "track_file", "track_process", "track_bfd"].map((k) => [k, TRACK] as const),
  ...["notify_backup", "notify_master", "notify_fault", "notify_stop", "notify"].map((k) => [k, STATE_SCRIPT] as const),
  ["smtp_alert", EMAIL],
  ["notify_priority_changes", NOTIFY],
  ["global_tracking", VRRP],
  ["sync_group_tracking_weight", VRRP],
]);

const SCHEDULER_FLAG = warning("IPVS scheduler flags are not imported: the director sets none");

/** virtual_server's keywords the import does not read. */
export const VIRTUAL_SERVER = new Map<string, Reason>([
  ...["hashed", "ops", "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback"].map((k) => [k, SCHEDULER_FLAG] as const),
  ["persistence_engine", warning("IPVS persistence engines (sip) are not imported: persistence is by client address")],
  ["ip_family", note("Tandem takes the family from the addresses")],
  ["nat_mask", note("keepalived 1's netmask of a NAT service, long without effect")],
  ["ha_suspend", note("Tandem checks the real servers whether or not the virtual address is on this node")],
  ["smtp_alert", EMAIL],
  ["snmp_name", SNMP],
  ["omega", note("Tandem runs no quorum or real server scripts, at stop or otherwise")],
  ["quorum_up", warning("a script run when the service gains quorum: Tandem runs none")],
  ["quorum_down", warning("a script run when the service loses quorum: Tandem runs none")],
  ["sorry_server_inhibit", note("Tandem removes the sorry server when a real server is healthy again")],
  ["warmup", FIRST_CHECK],
  ["delay_before_retry", RETRY_DELAY],
]);

/** real_server's keywords the import does not read. */
export const REAL_SERVER = new Map<string, Reason>([
  ["uthreshold", warning("connection thresholds are not imported: the director sets none")],
  ["lthreshold", warning("connection thresholds are not imported: the director sets none")],
  ["notify_up", CHECK_SCRIPT],
  ["notify_down", CHECK_SCRIPT],
  ["smtp_alert", EMAIL],
  ["snmp_name", SNMP],
  ["warmup", FIRST_CHECK],
  ["delay_before_retry", RETRY_DELAY],
]);

/** Every checker's keywords the import does not read. */
export const CHECKER = new Map<string, Reason>([
  ["connect_ip", warning("Tandem checks the real server's own address (or the service's check port on it)")],
  ["bindto", CHECK_SOURCE],
  ["bind_port", CHECK_SOURCE],
  ["bind_if", CHECK_SOURCE],
  ["fwmark", CHECK_SOURCE],
  ["log_all_failures", note("Tandem logs every change of a real server's state, with the check's reason")],
  ["warmup", FIRST_CHECK],
  ["delay_before_retry", RETRY_DELAY],
]);

/** HTTP_GET's and SSL_GET's own keywords the import does not read. */
export const HTTP_GET = new Map<string, Reason>([
  ["http_protocol", note("Tandem sends HTTP/1.1 with Connection: close")],
  ["fast_recovery", note("Tandem checks one url, so there is nothing to hurry")],
  ["tls_compliant", note("Tandem ends a check's connection with a reset")],
]);

/** url's keywords the import does not read. */
export const URL = new Map<string, Reason>([
  ["regex_options", warning("Tandem's body is a JavaScript regular expression without options")],
  ["regex_stack", note("Tandem's body is a JavaScript regular expression; it needs no stack size")],
  ["regex_min_offset", warning("Tandem matches the body from its start")],
  ["regex_max_offset", warning("Tandem matches the body from its start")],
  ["tls_compliant", note("Tandem ends a check's connection with a reset")],
]);

/** Checkers Tandem has no counterpart for, and what is written instead. */
export const OTHER_CHECKERS = new Map<string, string>([
  ["SMTP_CHECK", "a tcp check is written: it connects, but does not wait for the SMTP greeting"],
  ["UDP_CHECK", "Tandem has no UDP check: the server is written with no check (kind none, always healthy)"],
  ["PING_CHECK", "Tandem has no ping check: the server is written with no check (kind none, always healthy)"],
  ["FILE_CHECK", "Tandem has no file check: the server is written with no check (kind none, always healthy)"],
  ["BFD_CHECK", "Tandem has no BFD check: the server is written with no check (kind none, always healthy)"],
]);

/** Keywords whose arguments are secrets: a message names the keyword only. */
export const SECRET = new Set(["auth_pass", "password", "key", "authentication", "auth_hmac"]);
