-- title: Reverse shell
-- description: A shell holding a network socket (its stdin/stdout duplicated onto a connection, or
--   /dev/tcp), a shell started by a network tool (nc -e, socat exec:, openssl s_client piped to a
--   shell), or a command line that builds one in any language (Python, Perl, Ruby, PHP, Lua, awk,
--   mkfifo pipes). Loopback-only /dev/tcp health checks are left out.
-- attack: T1059.004, T1059.006, T1059
-- severity: critical
-- tags: network, execution, command_and_control
-- param: shells = '^(sh|bash|dash|zsh|ksh|mksh|ash|busybox|tcsh|csh|fish)$'
-- param: net_tools = '^(nc|ncat|netcat|nc\.traditional|nc\.openbsd|socat|openssl|telnet|cryptcat|pwncat)$'
-- param: one_liners = '/dev/(tcp|udp)/[^/ ]+/[0-9]+|\bn(c|cat|etcat)(\.traditional|\.openbsd)?\s+(.*\s)?-[a-z]*[ec]\s|\bncat\s.*--(exec|sh-exec)|socat\s.*\b(exec|system):|openssl\s+s_client.*\|\s*(/bin/|/usr/bin/)?(ba|da|z)?sh\b|mkfifo\s.*\b(ba|da|z)?sh\s+-i\b|socket\.socket\(.*(connect|dup2)|dup2\(.*fileno|pty\.spawn\(|IO::Socket::INET|use\s+Socket|fsockopen\(|TCPSocket\.(new|open)|/inet/tcp/|socket\.connect\(|require\(.net.\)'
-- param: loopback_checks = '^[^|;&]*/dev/(tcp|udp)/(127\.[0-9.]+|localhost)/[0-9]+[^|;&]*$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name, fd_sip AS remote_ip, fd_sport AS remote_port
FROM events
WHERE (regexp_like(proc_cmdline, {{one_liners}}) AND NOT regexp_like(proc_cmdline, {{loopback_checks}}))
   OR (regexp_like(proc_name, {{shells}}) AND fd_sip IS NOT NULL
       AND NOT (fd_sip IN ('127.0.0.1', '::1') AND fd_cip IN ('127.0.0.1', '::1')))
   OR (regexp_like(proc_name, {{shells}}) AND regexp_like(proc_pname, {{net_tools}}))
ORDER BY event_time, seq;
