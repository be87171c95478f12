-- title: File times set by hand (timestomping)
-- description: touch copying another file's times (-r, --reference) or setting an explicit date
--   (-d, -t, --date) on a file in system, web or persistence locations, by anything but a
--   package manager or build tool: hiding a dropped file's age.
-- attack: T1070.006
-- severity: high
-- tags: defense_evasion
-- param: cmdlines = '\btouch\s+(.*\s)?(-[a-zA-Z]*[rdt]\s*\S+|--reference[= ]\S+|--date[= ]\S+)\s+(.*\s)?/(etc|usr|bin|sbin|lib|lib64|var/www|root|home|opt|boot|var/spool)/'
-- param: builders = '^(make|gmake|cmake|ninja|dpkg|rpm|dpkg-source|debhelper|dh_[a-z_]+|rpmbuild|apt|apt-get|yum|dnf|puppet|chef-client|salt-minion)$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name
FROM events
WHERE regexp_like(proc_cmdline, {{cmdlines}})
  AND NOT regexp_like(coalesce(proc_pname, ''), {{builders}})
  AND NOT regexp_like(coalesce(proc_pcmdline, ''), 'AnsiballZ_|/var/lib/dpkg/info/')
ORDER BY event_time, seq;
