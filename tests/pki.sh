#!/bin/bash
# pki.sh OUTDIR — builds rota's test PKI with the openssl CLI (offline, < 1 s).
#
# Every key is EC P-256 except signer-rsa (RSA 2048). CA validity is
# 2000-01-01 .. 2099-12-31 so that signing times in the past (for
# use-bundle-signing-time tests) still fall inside the CAs' lifetime.
# Names and structure are stable; the key material changes on every run.
#
# Files written to OUTDIR (each *.cert.pem has a matching *.key.pem):
#
#   root.pem, root.key.pem             root CA "rota Test Root CA" (no EKU)
#   intermediate.pem, .key.pem          intermediate CA under root (no EKU,
#                                       pathlen 0); also the keyring for
#                                       allow-partial-chain tests
#   keyring.pem                         root certificate only (the normal keyring)
#   keyring-crl.pem                     root certificate + root.crl.pem +
#                                       intermediate.crl.pem (for check-crl)
#   keyring-dir/                        OpenSSL hashed directory with the root
#   root.crl.pem                        CRL of the root (revokes nothing)
#   intermediate.crl.pem                CRL of the intermediate (revokes "revoked")
#   other-root.pem, other-root.key.pem  an unrelated, untrusted root CA
#
# Signers (issued by the intermediate unless noted; sign with
# --intermediate intermediate.pem):
#   signer          EKU codeSigning+emailProtection, KU digitalSignature:
#                   valid under OpenSSL's default (smimesign) purpose AND
#                   under check-purpose=codesign
#   signer-enc.key.pem  the signer key encrypted with AES-256, passphrase
#                   "rota-test" (RAUC_KEY_PASSPHRASE)
#   signer-rsa      like signer, RSA 2048 key
#   codesign        EKU codeSigning only: refused by default, accepted by codesign
#   noeku           no EKU at all: accepted by default, refused by codesign
#   serverauth      EKU serverAuth only: refused by default and by codesign
#   expired         valid 2000-01-01 .. 2001-01-01 (EKU like signer)
#   notyet          valid 2090-01-01 .. 2099-01-01 (EKU like signer)
#   expiring        valid from now for 10 days (within RAUC's 30-day warning)
#   revoked         revoked in intermediate.crl.pem (EKU like signer)
#   other           issued directly by other-root (EKU like signer)
#
# Prints nothing on success; on failure the failing command's output.

set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi

OUT=$1
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK="$OUT/.ca"
rm -rf "$WORK"
mkdir -p "$WORK"
LOG="$WORK/log"

CA_START=20000101000000Z
CA_END=20991231235959Z

# Runs a command quietly; shows its output only when it fails.
run() {
	if ! "$@" >"$LOG" 2>&1; then
		echo "pki.sh: failed: $*" >&2
		cat "$LOG" >&2
		exit 1
	fi
}

# Extension profiles (the -extfile of every issuing step). CAs carry no
# EKU, so both smimesign and codesign accept them as issuers.
cat >"$WORK/ext.cnf" <<EOF
[ v3_root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_intermediate ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_signer ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning, emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ v3_codesign ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ v3_noeku ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ v3_serverauth ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# One config per CA: its database directory plus the common settings.
make_ca_config() { # name serial
	local name=$1 dir=$WORK/$1
	cat >"$WORK/$name.cnf" <<EOF
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = $dir
database = $dir/index.txt
new_certs_dir = $dir/new
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key.pem
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
countryName = optional
organizationName = optional
commonName = supplied
EOF
	mkdir -p "$dir/new"
	: >"$dir/index.txt"
	echo "$2" >"$dir/serial"
	echo 1000 >"$dir/crlnumber"
}

new_key() { # file [rsa]
	if [ "${2:-}" = rsa ]; then
		run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1"
	else
		run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
	fi
}

new_csr() { # key subject out
	run openssl req -new -config "$WORK/root.cnf" -key "$1" -subj "$2" -out "$3"
}

# openssl ca (not x509 -req): OpenSSL 3.0 can set explicit validity only here.
issue() { # CA csr out extensions startdate enddate [extra args]
	local ca=$1 csr=$2 out=$3 ext=$4 start=$5 end=$6
	shift 6
	run openssl ca -batch -notext -preserveDN -config "$WORK/$ca.cnf" -extfile "$WORK/ext.cnf" \
		-extensions "$ext" -startdate "$start" -enddate "$end" -in "$csr" -out "$out" "$@"
}

make_ca() { # name CN serial issuer|self extensions
	local name=$1 cn=$2 serial=$3 issuer=$4 ext=$5
	make_ca_config "$name" "$serial"
	new_key "$WORK/$name/ca.key.pem"
	new_csr "$WORK/$name/ca.key.pem" "/C=DE/O=rota Test/CN=$cn" "$WORK/$name.csr"
	if [ "$issuer" = self ]; then
		issue "$name" "$WORK/$name.csr" "$WORK/$name/ca.pem" "$ext" "$CA_START" "$CA_END" \
			-selfsign -keyfile "$WORK/$name/ca.key.pem"
	else
		issue "$issuer" "$WORK/$name.csr" "$WORK/$name/ca.pem" "$ext" "$CA_START" "$CA_END"
	fi
}

make_signer() { # CA name extensions startdate enddate [rsa]
	local ca=$1 name=$2 ext=$3 start=$4 end=$5 keytype=${6:-}
	new_key "$OUT/$name.key.pem" "$keytype"
	new_csr "$OUT/$name.key.pem" "/C=DE/O=rota Test/CN=rota Test Signer $name" "$WORK/$name.csr"
	issue "$ca" "$WORK/$name.csr" "$OUT/$name.cert.pem" "$ext" "$start" "$end"
}

# CRLs valid over the whole CA lifetime, so that checks at a past signing
# time (use-bundle-signing-time) still find a current CRL.
gencrl() { # CA out
	run openssl ca -batch -config "$WORK/$1.cnf" -gencrl \
		-crl_lastupdate "$CA_START" -crl_nextupdate "$CA_END" -out "$2"
}

make_ca root "rota Test Root CA" 1000 self v3_root
make_ca intermediate "rota Test Intermediate CA" 2000 root v3_intermediate
make_ca other "rota Test Other Root CA" 5000 self v3_root

make_signer intermediate signer v3_signer "$CA_START" "$CA_END"
make_signer intermediate signer-rsa v3_signer "$CA_START" "$CA_END" rsa
make_signer intermediate codesign v3_codesign "$CA_START" "$CA_END"
make_signer intermediate noeku v3_noeku "$CA_START" "$CA_END"
make_signer intermediate serverauth v3_serverauth "$CA_START" "$CA_END"
make_signer intermediate expired v3_signer 20000101000000Z 20010101000000Z
make_signer intermediate notyet v3_signer 20900101000000Z 20990101000000Z
make_signer intermediate expiring v3_signer "$(date -u +%Y%m%d%H%M%SZ)" \
	"$(date -u -d '+10 days' +%Y%m%d%H%M%SZ)"
make_signer intermediate revoked v3_signer "$CA_START" "$CA_END"
make_signer other other v3_signer "$CA_START" "$CA_END"

run openssl ca -batch -config "$WORK/intermediate.cnf" -revoke "$OUT/revoked.cert.pem" -crl_reason keyCompromise
gencrl root "$OUT/root.crl.pem"
gencrl intermediate "$OUT/intermediate.crl.pem"

run openssl pkey -in "$OUT/signer.key.pem" -aes256 -passout pass:rota-test -out "$OUT/signer-enc.key.pem"

cp "$WORK/root/ca.pem" "$OUT/root.pem"
cp "$WORK/root/ca.key.pem" "$OUT/root.key.pem"
cp "$WORK/intermediate/ca.pem" "$OUT/intermediate.pem"
cp "$WORK/intermediate/ca.key.pem" "$OUT/intermediate.key.pem"
cp "$WORK/other/ca.pem" "$OUT/other-root.pem"
cp "$WORK/other/ca.key.pem" "$OUT/other-root.key.pem"
cp "$OUT/root.pem" "$OUT/keyring.pem"
cat "$OUT/root.pem" "$OUT/root.crl.pem" "$OUT/intermediate.crl.pem" >"$OUT/keyring-crl.pem"
rm -rf "$OUT/keyring-dir"
mkdir "$OUT/keyring-dir"
cp "$OUT/root.pem" "$OUT/keyring-dir/root.pem"
run openssl rehash "$OUT/keyring-dir"

rm -rf "$WORK"
