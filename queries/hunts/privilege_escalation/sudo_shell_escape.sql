-- title: Shell escape through sudo or a setuid helper
-- description: GTFOBins-style escapes: "find -exec sh", "vim -c :!sh", "awk system()", "sh -p",
--   or a shell whose parent is a program that should never start one (find, vim, less, awk...).
-- attack: T1548.003, T1548.001
-- severity: high
-- tags: privilege_escalation
-- param: escapes = '-exec\s+(/bin/|/usr/bin/)?(ba|da|z)?sh\b|/bin/(ba)?sh\s+-p\b|:!(/bin/)?(ba)?sh|system\(.(/bin/)?(ba)?sh|os\.exec|pty\.spawn'
-- param: no_shell_parents = '^(find|vim?|less|more|man|awk|gawk|nmap|env|perl|tar|zip|git|ftp)$'
SELECT seq, collector_id, event_time, proc_pid, proc_name, proc_cmdline, proc_pname,
       proc_pcmdline, fd_name
FROM events
WHERE regexp_like(proc_cmdline, {{escapes}})
   OR (regexp_like(proc_name, '^(sh|bash|dash|zsh)$') AND regexp_like(proc_pname, {{no_shell_parents}}))
ORDER BY event_time, seq;
