#!/usr/bin/env bash
# DynamoDB Local runs on Java 17 or newer, and local/dynamodb/launcher.py compiles a small
# launcher that binds it to loopback (javac). Install Debian's JDK when either is missing
# and we are root; otherwise say exactly what to install.
set -euo pipefail

java_major() {
    command -v java >/dev/null 2>&1 || { echo 0; return; }
    java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit}'
}

major=$(java_major)
if [ "${major:-0}" -ge 17 ] && command -v javac >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Java 17+ with javac not found (found: ${major:-none}); installing openjdk-17-jdk-headless" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
    major=$(java_major)
    [ "${major:-0}" -ge 17 ] && command -v javac >/dev/null 2>&1 && exit 0
fi
cat >&2 <<MSG
SamSold needs a JDK 17 or newer (java and javac) to run Amazon DynamoDB Local on loopback
(found: ${major:-none}). Install it, for example on Debian/Ubuntu:  sudo apt-get install openjdk-17-jdk-headless
MSG
exit 1
