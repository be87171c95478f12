-- title: Programs run by a shell that a web server started
-- description: Any event of a process whose parent is a shell or interpreter and whose
--   grandparent (or great-grandparent, through a second shell) is a web server or application
--   runtime: what an attacker runs through a web shell or an exploited application, whatever the
--   tool. Lineage is rebuilt from the events' own parent fields (host, pid and name). What PHP
--   and Java applications start by design (sendmail for mail(), ImageMagick, git) is left out.
-- attack: T1190, T1505.003, T1059.004
-- severity: high
-- tags: web, execution
-- param: web = '^(nginx|apache2|httpd|lighttpd|php-fpm[0-9.]*|php-cgi[0-9.]*|tomcat[0-9]*|uwsgi|gunicorn|puma|unicorn|node|redis-server|mongod|mysqld|postgres|confluence|catalina\.sh)$'
-- param: expected_children = '^(sh|/bin/sh)\s+-c\s+(/usr/sbin/sendmail|/usr/lib/sendmail|sendmail|msmtp|ssmtp|exim4?|postdrop|convert|magick|gs|ffmpeg|pdftotext|wkhtmltopdf|git|identify)\b'
-- param: shells = '^(sh|bash|dash|zsh|ksh|ash|busybox|python[0-9.]*|perl[0-9.]*|ruby[0-9.]*|php[0-9.]*)$'
WITH procs AS (
  SELECT collector_id AS host, proc_pid AS pid, proc_name AS name,
         first_value(proc_ppid ORDER BY event_time, seq) AS ppid,
         first_value(proc_pname ORDER BY event_time, seq) AS pname
  FROM events WHERE proc_pid IS NOT NULL AND proc_name IS NOT NULL
  GROUP BY collector_id, proc_pid, proc_name
)
SELECT e.seq, e.collector_id, e.event_time, e.evt_type, e.proc_pid, e.proc_name, e.proc_cmdline,
       e.proc_pname, p2.pname AS grandparent, p3.pname AS great_grandparent, e.fd_name
FROM events e
JOIN procs p2 ON p2.host = e.collector_id AND p2.pid = e.proc_ppid AND p2.name = e.proc_pname
LEFT JOIN procs p3 ON p3.host = e.collector_id AND p3.pid = p2.ppid AND p3.name = p2.pname
WHERE regexp_like(e.proc_pname, {{shells}})
  AND NOT regexp_like(coalesce(e.proc_pcmdline, ''), {{expected_children}})
  AND (regexp_like(p2.pname, {{web}})
       OR (regexp_like(p2.pname, {{shells}}) AND regexp_like(p3.pname, {{web}})))
ORDER BY e.event_time, e.seq;
