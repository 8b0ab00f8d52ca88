"""A stand-in for `az`, `sqlcmd`, `func`, `curl` and `company-activity` while testing infra/deploy.sh.

The Azure control plane cannot run here, so infra/deploy.sh runs against this script (a wrapper named after
each tool on PATH sets FAKE_TOOL). Every call is appended to $FAKE_AZ_LOG as one JSON line {tool, argv, stdin-file
contents}; answers come from the small state below. FAKE_AZ_EXISTING=1 pretends a previous deployment
left a started trigger behind.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

OUTPUTS = {
    "functionAppName": "funcabc",
    "functionAppHostName": "funcabc.azurewebsites.net",
    "keyVaultName": "kvabc",
    "sqlServerFqdn": "sqlabc.database.windows.net",
    "sqlDatabaseName": "company_activity",
    "dataFactoryName": "adfabc",
}


def main() -> int:
    tool, args = os.environ["FAKE_TOOL"], sys.argv[1:]
    record: dict[str, object] = {"tool": tool, "argv": args}
    if "--file" in args:  # az keyvault secret set --file <(printf ...): keep what the file held
        record["file"] = Path(args[args.index("--file") + 1]).read_text(encoding="utf-8")
    with open(os.environ["FAKE_AZ_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
    if tool != "az":
        if tool == "curl":
            print('{"enqueued": ["2026-01-01"], "skipped": []}')
        return 0
    return az(args)


def az(args: list[str]) -> int:
    line = " ".join(args)
    existing = os.environ.get("FAKE_AZ_EXISTING") == "1"
    query = args[args.index("--query") + 1] if "--query" in args else ""
    if line.startswith("account show"):
        print({"user.type": "user", "name": "Pay-As-You-Go"}.get(query, ""))
    elif line.startswith("ad signed-in-user show"):
        print({"id": "11111111-2222-3333-4444-555555555555", "userPrincipalName": "dba@example.com"}[query])
    elif line.startswith("resource list"):
        print("adfabc" if existing else "")
    elif line.startswith("datafactory trigger show"):
        if not existing and "--output none" in line and "runtimeState" not in query:
            return 3  # no such trigger yet
        print(
            {"properties.typeProperties.startTime": "2025-06-01T00:00:00Z", "properties.runtimeState": "Started"}.get(
                query, ""
            )
        )
    elif line.startswith("deployment group show"):
        print(OUTPUTS[query.split(".")[2]])
    elif line.startswith("keyvault show"):
        print("/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kvabc")
    elif line.startswith("keyvault secret show"):
        return 3  # not set yet
    elif line.startswith("functionapp function keys list"):
        print("function-key-value")
    return 0


if __name__ == "__main__":
    sys.exit(main())
