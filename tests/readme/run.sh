#!/usr/bin/env bash
# Runs README.md's tested examples exactly as written against a fresh demo
# server, and fails on any error or any output the README does not show.
#
# A tested example is a ```sh block right after a `<!-- test: quickstart -->`
# line. Its blocks run in order in one bash session (`set -euo pipefail`), so
# variables carry from one block to the next, as in the reader's terminal. The
# `# ` lines right after a command are that command's expected output, one line
# each (a `#  ` line, with more spaces, continues the previous one: a long JSON
# answer wrapped for reading); `…` stands for any text. A command with no such
# lines must print nothing.
#
# The README's lines default to the demo's addresses (${BASE:-http://127.0.0.1:8080/api},
# ${SIP:-127.0.0.1:5060}); this script sets BASE and SIP to a demo server of its
# own on free loopback ports, with a fresh database.
#
#   bash tests/readme/run.sh                        # uses target/debug/didhub (cargo build)
#   DIDHUB_BIN=target/release/didhub bash tests/readme/run.sh
#
# Needs curl, jq, sipp (apt-get install sip-tester) and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${DIDHUB_BIN:-target/debug/didhub}
BLOCKS=${README_TEST:-quickstart}

for tool in curl jq sipp python3; do
  command -v "$tool" >/dev/null || { echo "readme: missing $tool" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "readme: missing $BIN: cargo build first" >&2; exit 1; }

WORK=$(mktemp -d)
SERVER=
cleanup() {
  if [ -n "$SERVER" ]; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=bench/sip/common.sh
source bench/sip/common.sh

fail() {
  echo "readme: $*" >&2
  echo "--- server log" >&2
  tail -n 30 "$WORK/server.log" >&2 || true
  exit 1
}

# The README's commands, each followed by the check of its output.
python3 - README.md "$BLOCKS" "$WORK" > "$WORK/examples.sh" <<'PY'
import os, re, shlex, sys

readme, name, work = sys.argv[1], sys.argv[2], sys.argv[3]
lines = open(readme, encoding="utf-8").read().split("\n")
marker = f"<!-- test: {name} -->"

blocks, i = [], 0
while i < len(lines):
    if lines[i].strip() == marker:
        if i + 1 >= len(lines) or lines[i + 1].strip() != "```sh":
            sys.exit(f"{readme}:{i + 1}: {marker} is not followed by a ```sh block")
        start = i + 2
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        blocks.append((start, lines[start:end]))
        i = end
    i += 1
if not blocks:
    sys.exit(f"{readme}: no block marked {marker}")

# Steps: (line number, command text, expected output lines).
steps = []
for start, block in blocks:
    j = 0
    while j < len(block):
        number, line = start + j + 1, block[j]
        j += 1
        if not line.strip():
            continue
        if line.startswith("#"):
            sys.exit(f"{readme}:{number}: expected output with no command before it")
        command = line
        while command.endswith("\\") and j < len(block):
            command += "\n" + block[j]
            j += 1
        expected = []
        while j < len(block) and block[j].startswith("#"):
            text = block[j][1:]
            if text.startswith("  ") and expected:
                expected[-1] += text.strip()
            else:
                expected.append(text.strip())
            j += 1
        steps.append((number, command, expected))

print("set -euo pipefail")
for n, (number, command, expected) in enumerate(steps):
    expect_file = os.path.join(work, f"expect.{n}")
    with open(expect_file, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in expected))
    out = os.path.join(work, f"out.{n}")
    print(f"printf '%s\\n' {shlex.quote('$ ' + command)}")
    print(f"{{\n{command}\n}} > {shlex.quote(out)}")
    print(f"check {number} {shlex.quote(expect_file)} {shlex.quote(out)}")
PY

# check LINE EXPECTED ACTUAL: the output matches the README's, line by line.
cat > "$WORK/check.py" <<'PY'
import re, sys
line, expected_file, actual_file = sys.argv[1:]
expected = open(expected_file, encoding="utf-8").read().splitlines()
actual = open(actual_file, encoding="utf-8", errors="replace").read().splitlines()
def matches(pattern, text):
    regex = ".*".join(re.escape(part) for part in pattern.split("\u2026"))
    return re.fullmatch(regex, text, re.DOTALL) is not None
ok = len(expected) == len(actual) and all(matches(e, a) for e, a in zip(expected, actual))
for text in actual:
    print("  " + text)
if not ok:
    print(f"README.md:{line}: the output differs from the README's", file=sys.stderr)
    print("expected:\n" + "\n".join("  " + e for e in expected), file=sys.stderr)
    sys.exit(1)
PY
check() { python3 "$WORK/check.py" "$@"; }
export -f check
export WORK

# A demo server on free ports (bench/sip/common.sh).
start_demo_server 60 || fail "the demo server did not start"

# `didhub …` lines (Operating didhub) run this binary on the demo's database.
PATH="$(cd "$(dirname "$BIN")" && pwd):$PATH" DIDHUB_DATABASE_URL="$WORK/didhub.db" \
BASE="http://$(cat "$WORK/address")/api" SIP="127.0.0.1:$SIP_PORT" \
  bash "$WORK/examples.sh" || fail "README example failed (above)"
echo "readme: every '$BLOCKS' example ran as written"
