-- title: Download run or dropped where attackers drop tools
-- description: A download piped straight into a shell or interpreter (curl ... | sh), a download
--   written to /tmp, /var/tmp, /dev/shm or a hidden folder, or a download tool writing there.
--   A shared library fetched straight to disk (curl -o x.so) is one too: loaders and preloads
--   take them. Plain fetches (health checks, API calls, tools into /usr/local/bin) are not hits.
-- attack: T1105
-- severity: high
-- tags: command_and_control, download
-- param: downloaders = '^(curl|wget|fetch|tftp|ftp|lwp-download|aria2c|axel)$'
-- param: piped = '\b(curl|wget|fetch|lwp-download)\b[^|]*\|\s*(sudo\s+)?(/usr/bin/|/bin/)?(ba|da|z|k)?sh\b|\b(curl|wget)\b[^|]*\|\s*(python[0-9.]*|perl|ruby|php)\b|(ba)?sh\s+-c\s+.*\$\((curl|wget)\s|\b(curl|wget)\s.*(-o|-O|--output(-document)?)\s*/(tmp|var/tmp|dev/shm)/|\bwget\s.*-P\s*/(tmp|var/tmp|dev/shm)\b|urlretrieve\(.*/(tmp|var/tmp|dev/shm)/|\b(curl|wget)\s.*(-o|-O|--output(-document)?)[= ]?\s*\S+\.so(\.[0-9.]+)?(\s|$)'
-- param: drop_dirs = '^/(tmp|var/tmp|dev/shm|run/user/[0-9]+)/|/\.[^/]+/'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name, fd_sip AS remote_ip, fd_sport AS remote_port
FROM events
WHERE regexp_like(proc_cmdline, {{piped}})
   OR regexp_like(proc_pcmdline, {{piped}})
   OR (regexp_like(proc_name, {{downloaders}}) AND regexp_like(fd_name, {{drop_dirs}})
       AND (evt_type = 'write' OR (evt_type IN ('open', 'openat', 'openat2') AND regexp_like(evt_args, 'O_WRONLY|O_RDWR|O_CREAT'))))
ORDER BY event_time, seq;
