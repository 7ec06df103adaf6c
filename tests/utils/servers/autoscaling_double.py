#!/usr/bin/env python
"""A test double of the Auto Scaling query API for the two calls moto does not implement.

moto has no CompleteLifecycleAction or RecordLifecycleActionHeartbeat, so
tests point boto3 at this server on 127.0.0.1 (endpoint_url, or
AWS_ENDPOINT_URL_AUTO_SCALING). It records the form parameters of every
request exactly as they arrived, so a test checks the API request itself,
and answers with the XML AWS sends: an empty result, or an ErrorResponse
when the test scripted one for an action.

In-process: ``AutoScalingDouble(errors={...}).start()``; ``.url``,
``.requests`` (a list of dicts), ``.stop()``. As a command, around another
command (for ansible-playbook runs inside a network namespace):

    autoscaling_double.py --record FILE [--error ACTION=CODE:MESSAGE] -- COMMAND...

runs COMMAND with AWS_ENDPOINT_URL_AUTO_SCALING pointing at the double,
writes the recorded requests to FILE as JSON and exits with COMMAND's status.
"""

import argparse
import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.parse
import uuid

ACTIONS = ('CompleteLifecycleAction', 'RecordLifecycleActionHeartbeat')
NAMESPACE = 'http://autoscaling.amazonaws.com/doc/2011-01-01/'


def _escape(text):
    return text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')


def success(action):
    return ('<%sResponse xmlns="%s"><%sResult/><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>'
            '</%sResponse>' % (action, NAMESPACE, action, uuid.uuid4(), action)).encode()


def failure(code, message):
    return ('<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>'
            '<RequestId>%s</RequestId></ErrorResponse>' % (NAMESPACE, _escape(code), _escape(message),
                                                           uuid.uuid4())).encode()


class AutoScalingDouble:
    """ERRORS: {action: (code, message)} answered with HTTP 400 instead of success."""

    def __init__(self, errors=None):
        self.errors = dict(errors or {})
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  pylint: disable=invalid-name
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0)).decode()
                params = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
                outer.requests.append(params)
                action = params.get('Action')
                if action not in ACTIONS:
                    status, answer = 400, failure('InvalidAction', 'The double does not play %s.' % action)
                elif action in outer.errors:
                    status, answer = 400, failure(*outer.errors[action])
                else:
                    status, answer = 200, success(action)
                self.send_response(status)
                self.send_header('Content-Type', 'text/xml')
                self.send_header('Content-Length', str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--record', required=True)
    parser.add_argument('--error', action='append', default=[], help='ACTION=CODE:MESSAGE')
    parser.add_argument('command', nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ['--'] else args.command
    errors = {}
    for item in args.error:
        action, _sep, rest = item.partition('=')
        code, _sep, message = rest.partition(':')
        errors[action] = (code, message)
    double = AutoScalingDouble(errors).start()
    try:
        status = subprocess.call(command, env=dict(os.environ, AWS_ENDPOINT_URL_AUTO_SCALING=double.url))
    finally:
        double.stop()
        with open(args.record, 'w', encoding='utf-8') as handle:
            json.dump(double.requests, handle, indent=2)
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
