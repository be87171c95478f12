-- title: Security and logging tools stopped or switched off
-- description: Stopping, disabling or masking audit, EDR, logging, SELinux/AppArmor or the
--   firewall (systemctl, service, kill, setenforce 0, auditctl -e 0, ufw disable, iptables -F,
--   writes to /sys/fs/selinux/enforce), unless the lineage is a package install or configuration
--   management (upgrades stop and start their own services).
-- attack: T1562.001, T1562.004, T1562.012
-- severity: high
-- tags: defense_evasion
-- param: tools = 'auditd|auditbeat|falco|sysdig|osqueryd|wazuh|ossec|crowdstrike|falcon-sensor|sentinelone|cbagent|elastic-agent|filebeat|rsyslog|syslog-ng|systemd-journald|apparmor|firewalld|ufw|aliyun|aegis|qcloud|bcm-agent|sysarmor'
-- param: managed = 'AnsiballZ_|ansible|puppet|chef-client|salt-minion|salt-call|cfengine|/var/lib/dpkg/info/|deb-systemd-invoke|dpkg|rpm|yum|dnf|apt-get|unattended-upgrade|needrestart'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name
FROM events
WHERE (regexp_like(proc_cmdline, '\b(systemctl|service)\s+(.*\s)?(stop|disable|mask|kill)\s+(.*\s)?(' || {{tools}} || ')')
       OR regexp_like(proc_cmdline, '\b(pkill|killall|kill\s+-9)\s+(.*\s)?(' || {{tools}} || ')')
       OR regexp_like(proc_cmdline, '\bsetenforce\s+(0|permissive)\b|\bauditctl\s+(-e\s*0|-D)\b|\bufw\s+disable\b|\biptables\s+(-F|--flush)\b|\baa-teardown\b|\bchattr\s+[-+]i\s+/etc/ld\.so\.preload')
       OR (fd_name = '/sys/fs/selinux/enforce' AND evt_type IN ('write', 'open', 'openat') AND regexp_like(coalesce(evt_args, ''), 'O_WRONLY|O_RDWR|res=')))
  AND NOT regexp_like(coalesce(proc_cmdline, '') || ' ' || coalesce(proc_pcmdline, '') || ' ' || coalesce(proc_pname, ''), {{managed}})
ORDER BY event_time, seq;
