#!/usr/bin/env python
"""A tiny HTTP server standing in for the instance's own service.

GET / answers "<name>\\n"; GET /slow?seconds=N answers after N seconds, which
keeps a session open through HAProxy for drain tests. Every request is
appended to a JSON-lines log, so a test can tell that traffic really reached
this server.

    web.py --name NAME --port PORT --log PATH   (runs until killed)
"""

import argparse
import http.server
import json
import threading
import time
import urllib.parse


def make_server(name, port, log_path=None, host='127.0.0.1'):
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.0'

        def do_GET(self):  # noqa: N802 (http.server's naming)
            url = urllib.parse.urlsplit(self.path)
            if url.path == '/slow':
                seconds = float(urllib.parse.parse_qs(url.query).get('seconds', ['1'])[0])
                time.sleep(seconds)
            body = ('%s\n' % name).encode()
            if log_path:
                with lock, open(log_path, 'a', encoding='utf-8') as log:
                    log.write(json.dumps({'path': self.path, 'server': name}) + '\n')
            self.send_response(200)
            self.send_header('Content-Type', 'text/plain')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


class Web:
    """The server in a thread of the test process."""

    def __init__(self, name, port, log_path=None):
        self.name = name
        self.port = port
        self.server = make_server(name, port, log_path)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--name', required=True)
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--log')
    args = parser.parse_args()
    make_server(args.name, args.port, args.log).serve_forever()


if __name__ == '__main__':
    main()
