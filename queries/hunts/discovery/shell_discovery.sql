-- title: Discovery commands run through a non-interactive shell
-- description: id, whoami, uname, hostname, network and process listings, or reads of account
--   and configuration files by a child of "sh -c": what a web shell or an exploit runs first.
-- attack: T1082, T1033, T1087.001, T1057, T1016, T1049
-- severity: medium
-- tags: discovery
-- param: commands = '^(id|whoami|uname|hostname|ifconfig|ip|netstat|ss|ps|w|who|last|groups|cat|head|less|more|grep|find|ls)$'
SELECT seq, collector_id, event_time, proc_pid, proc_name, proc_cmdline, proc_pcmdline, fd_name
FROM events
WHERE proc_pcmdline LIKE 'sh -c %'
  AND regexp_like(proc_name, {{commands}})
ORDER BY event_time, seq;
