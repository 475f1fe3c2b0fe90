#!/usr/bin/env bash
# Debian packages the slow tests need: headless Chromium (UI end-to-end test, the annual
# report's PDF), pdftotext from poppler-utils (reads that PDF), a PostgreSQL server
# (dagster-postgres instance test) and OpenSSH's server (SFTP exchange tests start a
# throw-away sshd on 127.0.0.1). Idempotent: does nothing when present.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
# Debian keeps the server binaries off PATH: look for initdb/pg_ctl under /usr/lib/postgresql.
if ! ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 \
    || ! command -v psql >/dev/null 2>&1; then
    need+=(postgresql)
fi
# sshd lives in /usr/sbin, which may be off PATH.
[ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1 || need+=(openssh-server)

if [ ${#need[@]} -eq 0 ]; then
    echo "install_test_deps: chromium, poppler-utils, postgresql and openssh-server already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install_test_deps: need root to install: ${need[*]}" >&2
    exit 1
fi

echo "install_test_deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq || ! apt-get install -y -qq --no-install-recommends "${need[@]}"; then
    echo "install_test_deps: apt-get failed to install: ${need[*]}" >&2
    exit 1
fi

command -v chromium >/dev/null 2>&1 || { echo "install_test_deps: chromium still missing" >&2; exit 1; }
command -v pdftotext >/dev/null 2>&1 || { echo "install_test_deps: pdftotext still missing" >&2; exit 1; }
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "install_test_deps: initdb still missing" >&2; exit 1; }
[ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1 || { echo "install_test_deps: sshd still missing" >&2; exit 1; }
echo "install_test_deps: installed ${need[*]}"
