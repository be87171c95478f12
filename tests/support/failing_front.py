"""An HTTP front for an S3-protocol server that loses one answer: every request is forwarded
to the server as it came, and the first PUT whose path contains FAIL_AFTER is answered with a
500 *after* the server took it (what a load balancer or gateway does when it times out on a
write that landed). Usage: failing_front.py LISTEN_PORT UPSTREAM_PORT FAIL_AFTER FIRED_FILE
(FIRED_FILE gets the path of the PUT whose answer was lost)."""
import http.client
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

listen, upstream, needle, fired_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
lock = threading.Lock()
fired = False


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        global fired
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        lose = False
        if self.command == "PUT" and needle in self.path and resp.status == 200:
            with lock:
                if not fired:
                    fired = lose = True
        if lose:
            with open(fired_file, "w") as f:
                f.write(self.path)
            err = b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InternalError</Code>" \
                  b"<Message>We encountered an internal error. Please try again.</Message></Error>"
            self.send_response(500)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(err)))
            self.end_headers()
            self.wfile.write(err)
            return
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() in ("transfer-encoding", "connection", "content-length", "server", "date"):
                continue
            self.send_header(k, v)
        if self.command == "HEAD":
            self.send_header("Content-Length", resp.getheader("Content-Length", "0"))
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


ThreadingHTTPServer(("127.0.0.1", listen), Front).serve_forever()
