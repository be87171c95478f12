-- title: Reverse shell
-- description: A shell or interpreter with a socket to a public address, or a command line using
--   /dev/tcp, /dev/udp, "nc -e" or a socat exec.
-- attack: T1059.004
-- severity: critical
-- tags: network, execution, command_and_control
-- param: shells = '^(sh|bash|dash|zsh|ksh|python[0-9.]*|perl|ruby|php[0-9.]*)$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, fd_name, fd_sip AS remote_ip, fd_sport AS remote_port
FROM events
WHERE (regexp_like(proc_name, {{shells}}) AND evt_type = 'connect'
       AND fd_sip IS NOT NULL AND NOT is_private_ip(fd_sip))
   OR regexp_like(proc_cmdline, '/dev/(tcp|udp)/|\bnc(at)?\s.*-e\s|socat\s.*exec:')
ORDER BY event_time, seq;
