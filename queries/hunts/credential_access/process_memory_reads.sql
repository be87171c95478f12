-- title: Another process's memory opened
-- description: /proc/PID/mem opened by a program that is not a debugger or tracer: credential
--   dumpers (mimipenguin and the like) read secrets out of sshd, login managers and browsers
--   this way, injectors write code into them.
-- attack: T1003.007, T1055.009
-- severity: high
-- tags: credential_access, file
-- param: debuggers = '^(gdb|gdbserver|lldb|strace|ltrace|perf|valgrind|memcheck-amd64-|rr|criu|gcore|py-spy|rbspy|async-profiler|java|jcmd|dotnet-dump|crash|systemd-coredum|apport|abrt-hook-ccpp)$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name, evt_args
FROM events
WHERE evt_type IN ('open', 'openat', 'openat2', 'write', 'pwrite', 'pwrite64', 'read', 'pread', 'pread64')
  AND regexp_like(fd_name, '^/proc/[0-9]+(/task/[0-9]+)?/mem$')
  AND NOT regexp_like(proc_name, {{debuggers}})
ORDER BY event_time, seq;
