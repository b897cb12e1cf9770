#!/usr/bin/env bash
# Makes a development CA and, signed by it, the NATS server's certificate and a client certificate,
# for docker-compose.yml or a test. Production certificates come from your own CA (cert-manager,
# Vault, …), never from this script. The keys are written with mode 600 and must never be committed
# (nats/certs/ is git-ignored).
#
#   nats/gen-dev-certs.sh [out-dir] [extra-name ...]
#
# out-dir defaults to nats/certs. The server certificate is valid for "nats", "localhost" and
# 127.0.0.1, plus each extra name (a DNS name, or an IP address). Files: ca.pem (give this to
# every AURA process as NATS_TLS_CA), ca-key.pem (keep offline), server.pem + server-key.pem (the
# NATS server only), client.pem + client-key.pem (NATS_TLS_CERT/NATS_TLS_KEY, for a server that
# verifies clients).
set -euo pipefail

out="${1:-$(dirname "$0")/certs}"
shift || true
mkdir -p "$out"
umask 077

san="DNS:nats,DNS:localhost,IP:127.0.0.1"
for name in "$@"; do
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then san="$san,IP:$name"; else san="$san,DNS:$name"; fi
done

days=825
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/CN=AURA development NATS CA" -keyout "$out/ca-key.pem" -out "$out/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

issue() { # name, subject CN, extensions
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$out/$1-key.pem" -out "$tmp/$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$tmp/$1.ext"
  openssl x509 -req -in "$tmp/$1.csr" -CA "$out/ca.pem" -CAkey "$out/ca-key.pem" -CAcreateserial \
    -CAserial "$tmp/ca.srl" -days "$days" -extfile "$tmp/$1.ext" -out "$out/$1.pem" 2>/dev/null
}

issue server "nats" "subjectAltName=$san
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth"
issue client "aura" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"

# certificates are public; the containers' users must be able to read the CA
chmod 644 "$out/ca.pem" "$out/server.pem" "$out/client.pem"
echo "certificates for $san written to $out" >&2
