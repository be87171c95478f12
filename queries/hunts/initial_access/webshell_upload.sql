-- title: Web shell written under a web root
-- description: A script file (PHP, JSP, ASPX, CGI, Python) created or written under a web root.
--   Uploads through the application itself show up as the web server's worker writing the file.
-- attack: T1505.003
-- severity: high
-- tags: web, persistence, initial_access
-- param: web_roots = '^/(var/www|srv/www|usr/share/nginx|var/lib/tomcat[0-9]*/webapps)/'
-- param: script_ext = '\.(php[0-9]?|phtml|jsp|jspx|aspx?|cgi|pl|py)$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, fd_name, evt_args
FROM events
WHERE regexp_like(fd_name, {{web_roots}})
  AND regexp_like(fd_name, {{script_ext}})
  AND (evt_type = 'write'
       OR (evt_type IN ('open', 'openat', 'openat2') AND evt_args LIKE '%O_CREAT%'))
ORDER BY event_time, seq;
