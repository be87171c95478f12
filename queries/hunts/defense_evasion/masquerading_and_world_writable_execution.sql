-- title: Programs running from world-writable folders or dressed as kernel threads
-- description: A process whose program path (the command line's first word) is under /tmp,
--   /var/tmp, /dev/shm, /run/user or a hidden folder, or whose command line poses as a kernel
--   thread ([kworker/0:1]) or whose name is a kernel thread's while it acts as a user program
--   (kernel threads never open files in /tmp or make outbound connections).
-- attack: T1036.005, T1564.001
-- severity: high
-- tags: defense_evasion, execution
-- param: writable = '^/(tmp|var/tmp|dev/shm|run/user/[0-9]+|run/shm)/|^[^ ]*/\.[^/ ]+/[^ ]*$|^\./\.'
-- param: kernel_names = '^(kworker|kthreadd|ksoftirqd|kswapd|migration|rcu_|kdevtmpfs|watchdog|kthrotld|kblockd|jbd2|kauditd|khugepaged|ksmd|kcompactd|irq/)'
-- param: build_parents = '^(make|gmake|cmake|ninja|cc1|gcc|go|cargo|rustc|ld|node|npm|pip|dpkg|rpm|apt-get|bazel|gradle|mvn|java)$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name, fd_sip AS remote_ip
FROM events
WHERE ((regexp_like(split_part(coalesce(proc_cmdline, ''), ' ', 1), {{writable}})
        AND NOT regexp_like(coalesce(proc_pname, ''), {{build_parents}}))
    OR regexp_like(proc_cmdline, '^\[[a-z0-9_/:.-]+\]\s*$')
    OR (regexp_like(proc_name, {{kernel_names}}) AND proc_cmdline IS NOT NULL AND proc_cmdline <> ''
        AND (fd_sip IS NOT NULL OR regexp_like(coalesce(fd_name, ''), '^/(tmp|var/tmp|dev/shm)/'))))
ORDER BY event_time, seq;
