#!/usr/bin/python3
"""Throwaway certificates for serving the emulator over HTTPS in tests, made with the
`openssl` command-line tool (nothing is downloaded, nothing leaves the directory).

    python3 test/emulator/gcal_tls.py DIR [--name server] [--san IP:127.0.0.1,DNS:localhost]

creates, if missing, a CA in DIR (ca.key, ca.crt) and then a server key and certificate
signed by it (NAME.key, NAME.crt; the subjectAltName given, by default IP:127.0.0.1 and
DNS:localhost), and prints the paths as JSON: {"ca", "ca_key", "cert", "key"}.
Run it again with another --name and --san for more server certificates of the same CA
(e.g. one for the wrong host name).

From Python: make_ca(dir) → paths of the CA; make_server_cert(dir, name, san) → paths.
Keys are ECDSA P-256 (fast to make); certificates are valid for 30 days from now.
"""

import argparse
import json
import os
import subprocess
import sys

DEFAULT_SAN = "IP:127.0.0.1,DNS:localhost"

# A complete config of our own: the system's openssl.cnf never changes the result.
CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
subjectAltName = %(san)s
"""


def _openssl(args, cwd, san=DEFAULT_SAN):
    conf = os.path.join(cwd, "openssl-gcal.cnf")
    with open(conf, "w") as fh:
        fh.write(CONFIG % {"san": san})
    env = dict(os.environ, OPENSSL_CONF=conf)
    out = subprocess.run(["openssl"] + args, cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), out.stderr.strip()))
    return out.stdout


def _key(path, cwd):
    _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path], cwd)
    os.chmod(os.path.join(cwd, path), 0o600)


def make_ca(directory):
    """A self-signed CA in directory (kept if it exists) → {"ca", "ca_key"} (absolute paths)."""
    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    paths = {"ca": os.path.join(directory, "ca.crt"), "ca_key": os.path.join(directory, "ca.key")}
    if not (os.path.exists(paths["ca"]) and os.path.exists(paths["ca_key"])):
        _key("ca.key", directory)
        _openssl(["req", "-new", "-x509", "-config", "openssl-gcal.cnf", "-key", "ca.key",
                  "-subj", "/CN=gcalsync throwaway test CA", "-extensions", "ca_ext",
                  "-days", "30", "-out", "ca.crt"], directory)
    return paths


def make_server_cert(directory, name="server", san=DEFAULT_SAN):
    """A server key and certificate for san, signed by the CA of directory (made if
    missing) → {"ca", "ca_key", "cert", "key"} (absolute paths)."""
    paths = make_ca(directory)
    directory = os.path.dirname(paths["ca"])
    _key(name + ".key", directory)
    _openssl(["req", "-new", "-config", "openssl-gcal.cnf", "-key", name + ".key",
              "-subj", "/CN=gcal emulator " + name, "-out", name + ".csr"], directory, san)
    _openssl(["x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
              "-CAcreateserial", "-days", "30", "-extfile", "openssl-gcal.cnf",
              "-extensions", "server_ext", "-out", name + ".crt"], directory, san)
    paths.update(cert=os.path.join(directory, name + ".crt"), key=os.path.join(directory, name + ".key"))
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description="throwaway CA and server certificate for the emulator")
    ap.add_argument("dir", help="directory of the CA (created if missing)")
    ap.add_argument("--name", default="server", help="file name stem of the server key and certificate")
    ap.add_argument("--san", default=DEFAULT_SAN, help="subjectAltName (default %s)" % DEFAULT_SAN)
    args = ap.parse_args(argv)
    print(json.dumps(make_server_cert(args.dir, args.name, args.san)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
