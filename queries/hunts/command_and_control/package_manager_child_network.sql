-- title: A package install's script reaching an unusual destination
-- description: A child of a package manager or of an install script (dpkg/rpm maintainer scripts,
--   npm/pip/gem lifecycle scripts) connecting to a public address on a port other than the
--   usual web ports, or a shell in the install phase holding a socket: the supply-chain pattern.
--   The managers' own fetchers (apt's http/https methods, pip, npm) are the parents here, not hits.
-- attack: T1195.002, T1105
-- severity: high
-- tags: command_and_control, supply_chain, network
-- param: managers = '^(dpkg|apt|apt-get|aptitude|unattended-upgr|rpm|yum|dnf|microdnf|zypper|apk|pip[0-9.]*|npm|npm-cli\.js|yarn|pnpm|gem|bundle|composer|cargo)$'
-- param: install_scripts = '/var/lib/dpkg/info/|/var/tmp/rpm-tmp|npm run (pre|post)?install|node-gyp|setup\.py (install|bdist)|\b(pre|post)install\b'
-- param: usual_ports = 80, 443
-- param: fetchers = '^(http|https|gpgv|store|copy|apt-key)$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_sip AS remote_ip, fd_sport AS remote_port
FROM events
WHERE evt_type IN ('connect', 'sendto') AND fd_sip IS NOT NULL AND NOT is_private_ip(fd_sip)
  AND (regexp_like(proc_pname, {{managers}}) OR regexp_like(proc_pcmdline, {{install_scripts}}))
  AND NOT regexp_like(proc_name, {{fetchers}})
  AND (fd_sport NOT IN ({{usual_ports}})
       OR regexp_like(proc_name, '^(sh|bash|dash|nc|ncat|socat|python[0-9.]*|perl)$'))
ORDER BY event_time, seq;
