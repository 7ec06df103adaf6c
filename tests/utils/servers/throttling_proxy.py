#!/usr/bin/env python
"""An HTTP proxy in front of moto_server that throttles a share of AWS calls, as AWS does under a burst.

moto never throttles. Placed between botocore and moto (AWS_ENDPOINT_URL
points at the proxy), it answers a share of the calls with the error each
service really sends when it throttles, in that service's wire format, and
forwards the rest unchanged:

    elasticloadbalancing, autoscaling, monitoring   400  Throttling (query XML)
    ec2                                             503  RequestLimitExceeded (EC2 XML)
    servicediscovery                                429  RequestLimitExceeded (JSON 1.1; the status of
                                                         botocore's servicediscovery model)

ERRORS ({service: (content type, status, body template)}) replaces these per
service, for the other codes a service may send (ELBv2's documentation names
ThrottlingException; HTTP 429 TooManyRequestsException, 503 SlowDown...).

The choice is deterministic: a seeded generator decides, the first time a
distinct request (service, operation and body) arrives, whether it is one
of the throttled share; a chosen request is throttled on its first
THROTTLED_ATTEMPTS arrivals and forwarded after that. botocore signs each
retry anew but sends the same body, so a caller whose retry budget is larger
than THROTTLED_ATTEMPTS always gets through, and one whose budget is not
always fails with the service's throttling error. No test depends on luck.

    throttling_proxy.py --upstream http://127.0.0.1:5000 --port 0 --share 0.5 --attempts 2
    (prints the URL it serves on, then serves until killed; GET /_proxy/stats gives the counts)
"""

import argparse
import collections
import hashlib
import http.client
import http.server
import json
import random
import threading
import urllib.parse

STATS_PATH = '/_proxy/stats'

_QUERY_XML = ('text/xml', 400, '<ErrorResponse xmlns="https://aws.amazon.com/"><Error><Type>Sender</Type>'
              '<Code>Throttling</Code><Message>Rate exceeded</Message></Error>'
              '<RequestId>{request_id}</RequestId></ErrorResponse>')
THROTTLING_ERRORS = {
    'elasticloadbalancing': _QUERY_XML,
    'autoscaling': _QUERY_XML,
    'monitoring': _QUERY_XML,
    'ec2': ('text/xml', 503, '<Response><Errors><Error><Code>RequestLimitExceeded</Code>'
                             '<Message>Request limit exceeded.</Message></Error></Errors>'
                             '<RequestID>{request_id}</RequestID></Response>'),
    'servicediscovery': ('application/x-amz-json-1.1', 429,
                         '{{"__type": "RequestLimitExceeded", "Message": "Rate exceeded", "RequestId": "{request_id}"}}'),
}
# Hop-by-hop headers are the proxy's own business (RFC 9110, 7.6.1).
_HOP_BY_HOP = frozenset(('connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding',
                         'upgrade', 'host', 'content-length'))


def service_of(headers):
    """The signing name of the service a SigV4-signed request is for ('elasticloadbalancing', 'ec2', ...)."""
    authorization = headers.get('Authorization', '')
    for part in authorization.replace(',', ' ').split():
        if part.startswith('Credential='):
            scope = part[len('Credential='):].split('/')
            if len(scope) == 5:
                return scope[3]
    return 'unknown'


def operation_of(headers, body):
    """The API operation: X-Amz-Target for JSON protocols, the Action parameter for query protocols."""
    target = headers.get('X-Amz-Target')
    if target:
        return target.rsplit('.', 1)[-1]
    action = urllib.parse.parse_qs(body.decode('utf-8', 'replace')).get('Action')
    return action[0] if action else 'unknown'


class ThrottlingProxy:
    """The proxy in a thread of the calling process; stats() counts calls and throttles per service and operation."""

    def __init__(self, upstream, share=0.3, attempts=2, seed=1, host='127.0.0.1', port=0, services=None,
                 errors=None):
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme != 'http' or not parts.hostname:
            raise ValueError('upstream must be an http:// URL, got %r' % upstream)
        if not 0 <= share <= 1:
            raise ValueError('share must be between 0 and 1, got %r' % share)
        self.upstream = (parts.hostname, parts.port or 80)
        self.share, self.attempts = share, attempts
        self.errors = dict(THROTTLING_ERRORS, **(errors or {}))
        self.services = set(services or self.errors)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._chosen = {}
        self._seen = collections.Counter()
        self._calls = collections.Counter()
        self._throttled = collections.Counter()
        self._server = http.server.ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self.url = 'http://%s:%d' % self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def stats(self):
        """{service: {operation: {'calls': n, 'throttled': m}}}, and 'total' with the sums."""
        with self._lock:
            result = collections.defaultdict(dict)
            for (service, operation), calls in sorted(self._calls.items()):
                result[service][operation] = {'calls': calls, 'throttled': self._throttled[(service, operation)]}
            result = dict(result)
            result['total'] = {'calls': sum(self._calls.values()), 'throttled': sum(self._throttled.values())}
            return result

    def throttles(self, service, operation, body):
        """Whether this arrival of the request is answered with a throttling error (and count it)."""
        key = hashlib.sha256(b'\0'.join((service.encode(), operation.encode(), body))).hexdigest()
        with self._lock:
            self._calls[(service, operation)] += 1
            if service not in self.services:
                return False
            if key not in self._chosen:
                self._chosen[key] = self._random.random() < self.share
            self._seen[key] += 1
            throttled = self._chosen[key] and self._seen[key] <= self.attempts
            if throttled:
                self._throttled[(service, operation)] += 1
            return throttled

    def _handler(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def _relay(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                if self.command == 'GET' and self.path == STATS_PATH:
                    return self._answer(200, 'application/json', json.dumps(proxy.stats()).encode())
                service = service_of(self.headers)
                if proxy.throttles(service, operation_of(self.headers, body), body):
                    content_type, status, template = proxy.errors[service]
                    return self._answer(status, content_type, template.format(request_id=_request_id()).encode())
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=120)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    headers['Host'] = '%s:%d' % proxy.upstream
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                    self.send_response_only(response.status, response.reason)
                    for name, value in response.getheaders():
                        if name.lower() not in _HOP_BY_HOP:
                            self.send_header(name, value)
                    self.send_header('Content-Length', str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    upstream.close()
                return None

            def _answer(self, status, content_type, data):
                self.send_response(status)
                self.send_header('Content-Type', content_type)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay  # noqa: N815 (http.server's naming)

            def log_message(self, *args):
                pass

        return Handler


def _request_id():
    return '%08x-%04x-%04x-%04x-%012x' % tuple(random.getrandbits(bits) for bits in (32, 16, 16, 16, 48))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--upstream', required=True, help='moto_server URL, e.g. http://127.0.0.1:5000')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--share', type=float, default=0.3, help='share of distinct requests throttled (0..1)')
    parser.add_argument('--attempts', type=int, default=2, help='arrivals of a chosen request that are throttled')
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args(argv)
    proxy = ThrottlingProxy(args.upstream, args.share, args.attempts, args.seed, port=args.port).start()
    print('throttling_proxy: serving at %s' % proxy.url, flush=True)
    threading.Event().wait()


if __name__ == '__main__':
    main()
