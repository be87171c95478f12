-- title: Privilege-escalation and network discovery tools
-- description: Searches for setuid files and file capabilities (find -perm -4000, getcap -r),
--   enumeration scripts (linpeas, linenum, les, pspy, lse, unix-privesc-check), and network
--   scanners (nmap, masscan, zmap, naabu, rustscan, fscan, nuclei), unless run by a scheduled
--   auditing tool (rkhunter, lynis, debsums...).
-- attack: T1083, T1046, T1082
-- severity: high
-- tags: discovery
-- param: cmdlines = '\bfind\s+(.*\s)?-perm\s+(-|/)?(u=s|g=s|4000|2000|6000|-4000|-2000)\b|\bgetcap\s+-r\b|linpeas|linenum|linux-exploit-suggester|\bles\.sh\b|\bpspy(32|64)?\b|\blse\.sh\b|unix-privesc-check|\b(nmap|masscan|zmap|naabu|rustscan|fscan|nuclei|zgrab2?)\s'
-- param: scanners = '^(nmap|masscan|zmap|naabu|rustscan|fscan|nuclei|zgrab|zgrab2)$'
-- param: auditors = '^(rkhunter|lynis|chkrootkit|aide|debsums|tiger|oscap|openscap|checksecurity|unhide|cron|anacron|run-parts)$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name, fd_sip AS remote_ip, fd_sport AS remote_port
FROM events
WHERE (regexp_like(proc_cmdline, {{cmdlines}}) OR regexp_like(proc_name, {{scanners}}))
  AND NOT regexp_like(coalesce(proc_pname, ''), {{auditors}})
  AND NOT regexp_like(coalesce(proc_pcmdline, ''), '/etc/cron\.(daily|weekly|monthly)/|rkhunter|lynis|checksecurity')
ORDER BY event_time, seq;
