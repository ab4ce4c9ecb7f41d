#!/usr/bin/env bash
# gen_certs.sh DIR - a throw-away PKI for the metadata source tests, made
# fresh on every run (nothing secret is kept in the repository):
#   ca.crt/ca.key          the "cluster CA"
#   server.crt/server.key  the fake API server, for IP 127.0.0.1
#   client.crt/client.key  a client certificate (kubeconfig client-certificate)
#   other-ca.crt           a CA that signed none of them (verification must fail)
# P-256 keys: quick to make, and what kubeadm clusters use for many certs.
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.crt -days 2 -subj "/CN=ew-test-cluster-ca" 2>/dev/null
key other-ca.key
openssl req -x509 -new -key other-ca.key -out other-ca.crt -days 2 -subj "/CN=ew-test-other-ca" 2>/dev/null
key server.key
openssl req -new -key server.key -out server.csr -subj "/CN=kube-apiserver" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
	-out server.crt -days 1 -extfile server.ext 2>/dev/null
key client.key
openssl req -new -key client.key -out client.csr -subj "/O=system:nodes/CN=system:node:node-a" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >client.ext
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
	-out client.crt -days 1 -extfile client.ext 2>/dev/null
