"""A throw-away CA with a server certificate for 127.0.0.1/localhost and a client certificate, as PEM files.

The certificates carry the extensions RFC 5280 asks for (key identifiers,
key usage): Python 3.13's ssl.create_default_context() verifies with
VERIFY_X509_STRICT and refuses a chain without them ("Missing Authority Key
Identifier"); the refused handshake showed up on etcd's side as
"tls: bad record MAC".
"""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _write(path, data):
    with open(path, 'wb') as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _certificate(subject_name, key, issuer_name, issuer_key, ca=False, usage=None, sans=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, subject_name)] if subject_name else []
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name(subject))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False)
               .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                            crl_sign=ca, encipher_only=False, decipher_only=False), critical=True))
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory, name='test'):
    """Write ca.pem, server.pem/server-key.pem and client.pem/client-key.pem; return their paths."""
    os.makedirs(directory, exist_ok=True)
    ca_key = _key()
    ca_name = '%s CA' % name
    ca = _certificate(ca_name, ca_key, ca_name, ca_key, ca=True)
    server_key = _key()
    # etcd's gateway connects to its own gRPC port with the server certificate as client certificate.
    server = _certificate('localhost', server_key, ca_name, ca_key,
                          usage=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                          sans=[x509.DNSName('localhost'), x509.IPAddress(ipaddress.ip_address('127.0.0.1'))])
    client_key = _key()
    # No common name: etcd refuses gateway requests from a client certificate
    # with a CN when auth is on ("CommonName ... will be ignored").
    client = _certificate(None, client_key, ca_name, ca_key, usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    paths = {}
    for label, data in (('ca', ca.public_bytes(serialization.Encoding.PEM)),
                        ('server_cert', server.public_bytes(serialization.Encoding.PEM)),
                        ('server_key', _key_pem(server_key)),
                        ('client_cert', client.public_bytes(serialization.Encoding.PEM)),
                        ('client_key', _key_pem(client_key))):
        path = os.path.join(directory, label.replace('_', '-') + '.pem')
        _write(path, data)
        paths[label] = path
    return paths
