"""Real servers for the self-managed register_instance backends, started on loopback by the tests.

haproxy.py   HAProxy (Debian package) with admin, operator and TCP runtime API sockets
etcd.py      a single-member etcd (Debian etcd-server) with optional auth and TLS
web.py       a tiny HTTP server standing in for the instance's service
pki.py       a throw-away CA with server and client certificates
hostile_imds.py  an instance metadata service that misbehaves on purpose (slow, wide, bombs, 429 bursts)
aws.py       moto_server with the elbv2 and cloudmap fixtures, and the instance moved into moto's VPC
lab.py       all of them as one command (the one lab), for runs inside tests/utils/imds-netns
fixtures.py  pytest fixtures around them, and an in-process module runner
"""
