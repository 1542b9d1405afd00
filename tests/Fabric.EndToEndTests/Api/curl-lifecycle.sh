#!/usr/bin/env bash
# A client of the REST API in another language than .NET: bash and curl only (grep and sed to read JSON).
# Usage: curl-lifecycle.sh API_URL TOKEN_FILE CA_FILE VM   (CA_FILE: the fabric's CA, which the API's certificate chains to)
# Creates a tiny VM, starts it, reads its console until the guest is ready, types a line, stops and deletes it.
set -euo pipefail
api=$1 token_file=$2 ca_file=$3 vm=$4

# call METHOD PATH [JSON]: prints the body; fails (with the problem detail) on any status of 400 or more.
call() {
    local method=$1 path=$2 body=${3:-} out status
    out=$(mktemp)
    status=$(curl -sS --cacert "$ca_file" -o "$out" -w '%{http_code}' -X "$method" -H "@$headers" \
        ${body:+-H 'Content-Type: application/json' --data "$body"} "$api$path")
    if ((status >= 400)); then
        printf 'error: %s %s: %s %s\n' "$method" "$path" "$status" "$(cat "$out")" >&2
        rm -f "$out"
        return 1
    fi
    cat "$out"
    rm -f "$out"
}

# The token goes in a header file, never on curl's command line (where ps would show it).
headers=$(mktemp)
trap 'rm -f "$headers"' EXIT
chmod 600 "$headers"
printf 'Authorization: Bearer %s\n' "$(<"$token_file")" >"$headers"

call POST /v1/vms "{\"name\":\"$vm\",\"image\":\"tiny\",\"memoryMiB\":32}" | grep -q "\"state\":\"Stopped\"\|\"state\":\"Defined\"" ||
    { echo "create did not answer a new VM" >&2; exit 1; }
echo "created $vm"
call POST "/v1/vms/$vm/start" | grep -q '"state":"Running"' || { echo "start did not answer Running" >&2; exit 1; }
echo "started $vm"

# The console, long-polled: ConsoleChunk.data is base64.
offset=0 text=
for _ in $(seq 1 30); do
    chunk=$(call GET "/v1/vms/$vm/console?offset=$offset&wait=2000")
    data=$(printf '%s' "$chunk" | sed -n 's/.*"data":"\([^"]*\)".*/\1/p')
    offset=$(printf '%s' "$chunk" | sed -n 's/.*"nextOffset":\([0-9]*\).*/\1/p')
    text+=$(printf '%s' "$data" | base64 -d)
    if grep -q 'fabric-guest ready boot=' <<<"$text"; then
        break
    fi
done
grep -o 'fabric-guest ready boot=[0-9a-f]*' <<<"$text" | head -1
grep -q 'fabric-guest ready' <<<"$text" || { echo "the guest never said it was ready" >&2; exit 1; }
call POST "/v1/vms/$vm/console" '{"line":"hello from curl"}' >/dev/null
echo "typed a line"

call POST "/v1/vms/$vm/stop?force=true" | grep -q '"state":"Stopped"' || { echo "stop did not answer Stopped" >&2; exit 1; }
call DELETE "/v1/vms/$vm" >/dev/null
echo "deleted $vm"
if call GET "/v1/vms/$vm" >/dev/null 2>"$headers.err"; then
    echo "the deleted VM is still there" >&2
    exit 1
fi
grep -q '"code":"not-found"' "$headers.err" && rm -f "$headers.err"
echo "gone: not-found"
