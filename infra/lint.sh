#!/usr/bin/env bash
# Lints the deployment: `sam validate --lint` on template.yaml, and — because
# SAM does not look inside DefinitionUri files — cfn-lint and sam on a
# lint-only copy of the template with the state machine definition inlined.
# Needs the tools infra/local/install.sh installs; works offline.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${VIDSTEGA_TOOLS_DIR:-$HOME/.cache/vidstega-tools}"
[ -x "$tools/bin/sam" ] && [ -x "$tools/bin/cfn-lint" ] || infra/local/install.sh
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-lint}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-lint}"

echo "==> sam validate --lint template.yaml"
"$tools/bin/sam" validate --lint -t template.yaml

inlined="$(mktemp --suffix=.yaml)"
trap 'rm -f "$inlined"' EXIT
python3 - "$inlined" <<'PY'
import sys
template = open("template.yaml").read()
asl = [l for l in open("infra/statemachine.asl.yaml").read().splitlines() if not l.lstrip().startswith("#")]
needle = "      DefinitionUri: infra/statemachine.asl.yaml\n"
assert needle in template, "template.yaml no longer references infra/statemachine.asl.yaml"
inline = "      Definition:\n" + "".join("        " + l + "\n" for l in asl if l.strip())
open(sys.argv[1], "w").write(template.replace(needle, inline))
PY
echo "==> cfn-lint on the template with the state machine inlined"
"$tools/bin/cfn-lint" "$inlined"
echo "==> sam validate --lint on the same"
"$tools/bin/sam" validate --lint -t "$inlined"
echo "lint: ok"
