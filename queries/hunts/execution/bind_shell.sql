-- title: Bind shell
-- description: A shell accepting a connection, or a listener started with a program to run for
--   each client (nc -l -e, ncat --exec, socat TCP-LISTEN ... EXEC:). Interpreters accepting
--   connections are every Python or Ruby web server: their socket one-liners are reverse_shell's.
-- attack: T1059.004, T1571
-- severity: critical
-- tags: network, execution
-- param: acceptors = '^(sh|bash|dash|zsh|ksh|mksh|ash|busybox)$'
-- param: listeners = '\bn(c|cat|etcat)(\.traditional|\.openbsd)?\s+(.*\s)?-[a-z]*l[a-z]*\s.*-[a-z]*(e|c)\s|\bn(c|cat|etcat)\s+(.*\s)?-[a-z]*(e|c)\s.*\s-[a-z]*l|ncat\s.*(-l|--listen)\b.*--(exec|sh-exec)|socat\s.*(tcp|tcp4|tcp6|udp)[46]?-listen:.*\b(exec|system):'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, fd_name, fd_cip AS remote_ip, fd_sport AS local_port
FROM events
WHERE regexp_like(lower(proc_cmdline), {{listeners}})
   OR (evt_type IN ('accept', 'accept4') AND regexp_like(proc_name, {{acceptors}})
       AND fd_cip IS NOT NULL AND fd_cip NOT IN ('127.0.0.1', '::1'))
ORDER BY event_time, seq;
