#!/usr/bin/env bash
# Deploy one environment end to end: the runbook of docs/deploy.md as a script.
#
#   infra/deploy.sh dev            # or prod; any infra/env/<name>.bicepparam
#
# Environment (all optional unless marked):
#   LOCATION             Azure region for a new resource group (default westeurope; must offer Flex Consumption)
#   RESOURCE_GROUP       default rg-company-activity-<env>
#   USAGE_API_BASE_URL   required: base URL of the product usage API
#   USAGE_API_KEY        the API key; prompted for (not echoed) when unset and the secret does not exist yet
#   SLACK_WEBHOOK_URL    the Slack incoming-webhook URL; prompted for like USAGE_API_KEY
#   SQL_ADMIN_LOGIN, SQL_ADMIN_OBJECT_ID, SQL_ADMIN_PRINCIPAL_TYPE
#                        Entra administrator of the SQL server (default: you, the signed-in user or service
#                        principal). SQL_ADMIN_OBJECT_ID is the object id of a user or group, the application
#                        (client) id of an application
#   ALERT_EMAILS         required: comma-separated e-mail addresses for the backstop alerts (docs/deploy.md, Alerts)
#   ALERT_WEBHOOK_URL    optional secure webhook that also receives the alerts (common alert schema), with
#   ALERT_WEBHOOK_APP_OBJECT_ID  the object id of the Entra application it validates tokens for
#   API_CLIENT_ID        required: client id of the HTTP API's app registration (docs/security.md, "Register the API")
#   DEPLOYER_IP          your public IPv4 address: adds a SQL firewall rule so steps 6-7 can connect; the rule is
#                        removed again when the script exits, whatever the outcome
#   DASHBOARD_AUTH_CLIENT_ID  required: application (client) id of the dashboard's Entra app registration
#                        (docs/deploy.md, "The dashboard"); its federated credential is added once by an owner
#   DASHBOARD_ALLOWED_GROUPS  comma-separated object ids of the groups whose members may open the dashboard
#   DASHBOARD_ALLOWED_USERS   comma-separated object ids of users who may open it too (at least one group or user)
#   PIPELINE_START_DATE  first day the daily trigger loads (default: the existing trigger's, else yesterday UTC)
#   ASSUME_YES=1         do not ask before deploying after what-if
#   WHAT_IF_ONLY=1       stop after the what-if (steps 1-3), changing nothing: the pull-request check of CI
#   WHAT_IF_VALIDATION_LEVEL  --validation-level of the what-if: ProviderNoRbac checks read permissions only, so a
#                        Reader identity can run it (Azure CLI 2.76+; the pull-request identity of CI)
#   SKIP_SECRETS=1       leave the Key Vault secrets alone (CI: they are set out of band, docs/security.md)
#   PUBLISH_ZIP          publish this zip of function_app/ with `az functionapp deployment source config-zip`
#                        (remote build) instead of Core Tools: CI installs no npm package
#   SKIP_PUBLISH=1       skip publishing the Function App code (Azure Functions Core Tools not installed)
#   COMPANY_ACTIVITY     the company-activity CLI to run (default .venv/bin/company-activity)
#
# Needs: az (2.60+, with the datafactory extension), go-sqlcmd, Azure Functions Core Tools v4 (func), and this
# repository's .venv (make install) for `company-activity sql deploy`.
set -euo pipefail

cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 <environment>   (one of: $(basename -a -s .bicepparam infra/env/*.bicepparam | tr '\n' ' '))" >&2
  exit 2
}

[[ $# -eq 1 ]] || usage
ENV_NAME=$1
PARAMS_FILE="infra/env/${ENV_NAME}.bicepparam"
[[ -f $PARAMS_FILE ]] || usage

LOCATION=${LOCATION:-westeurope}
RESOURCE_GROUP=${RESOURCE_GROUP:-rg-company-activity-${ENV_NAME}}
DEPLOYMENT_NAME="company-activity-${ENV_NAME}-$(date -u +%Y%m%d%H%M%S)"
TRIGGER_NAME=TR_daily_company_activity
if [[ -z ${COMPANY_ACTIVITY:-} ]]; then  # this repository's CLI (make install), else one on PATH
  if [[ -x .venv/bin/company-activity ]]; then COMPANY_ACTIVITY=.venv/bin/company-activity; else COMPANY_ACTIVITY=company-activity; fi
fi

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "error: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 is not installed ($2)"; }
# The signed-in principal's object id from the oid claim of its ARM access token: no Microsoft Graph call.
token_object_id() {
  local payload
  payload=$(az account get-access-token --query accessToken --output tsv | cut -d. -f2 | tr '_-' '/+')
  while (( ${#payload} % 4 )); do payload+="="; done
  printf '%s' "$payload" | base64 -d | grep -o '"oid" *: *"[0-9a-f-]*"' | grep -o '[0-9a-f-]\{36\}'
}
yesterday_utc() { date -u -d 'yesterday' +%F 2>/dev/null || date -u -v-1d +%F; }

need az "https://learn.microsoft.com/cli/azure/install-azure-cli"
WHAT_IF_ONLY=${WHAT_IF_ONLY:-0}
if [[ $WHAT_IF_ONLY != 1 ]]; then
  need sqlcmd "go-sqlcmd: https://learn.microsoft.com/sql/tools/sqlcmd/go-sqlcmd-utility"
  need curl "any package manager"
  [[ ${SKIP_PUBLISH:-0} == 1 || -n ${PUBLISH_ZIP:-} ]] || need func "Azure Functions Core Tools v4, or set SKIP_PUBLISH=1"
fi
[[ -n ${USAGE_API_BASE_URL:-} ]] || fail "set USAGE_API_BASE_URL to the usage API's base URL"
[[ -n ${ALERT_EMAILS:-} ]] || fail "set ALERT_EMAILS to the comma-separated e-mail addresses of the backstop alerts"
GUID='^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$'
[[ ${API_CLIENT_ID:-} =~ $GUID ]] ||
  fail "set API_CLIENT_ID to the client id of the API's app registration (docs/security.md, \"Register the API\")"
export API_CLIENT_ID
[[ ${DASHBOARD_AUTH_CLIENT_ID:-} =~ $GUID ]] ||
  fail "set DASHBOARD_AUTH_CLIENT_ID to the client id of the dashboard's app registration (docs/deploy.md)"
[[ -n ${DASHBOARD_ALLOWED_GROUPS:-}${DASHBOARD_ALLOWED_USERS:-} ]] ||
  fail "set DASHBOARD_ALLOWED_GROUPS or DASHBOARD_ALLOWED_USERS: nobody could open the dashboard"
[[ $ALERT_EMAILS =~ ^[^,@[:space:]]+@[^,@[:space:]]+(,[^,@[:space:]]+@[^,@[:space:]]+)*$ ]] ||
  fail "ALERT_EMAILS must be e-mail addresses separated by commas (no spaces), got $ALERT_EMAILS"
export ALERT_EMAILS ALERT_WEBHOOK_URL=${ALERT_WEBHOOK_URL:-} ALERT_WEBHOOK_APP_OBJECT_ID=${ALERT_WEBHOOK_APP_OBJECT_ID:-}
[[ -z $ALERT_WEBHOOK_URL || $ALERT_WEBHOOK_APP_OBJECT_ID =~ $GUID ]] ||
  fail "ALERT_WEBHOOK_URL needs ALERT_WEBHOOK_APP_OBJECT_ID: the action group calls it as a secure webhook (docs/deploy.md, Alerts)"

# What this run grants itself or opens only for its own steps is taken back when it exits, whatever the outcome:
# the deployer's SQL firewall rule and the Key Vault role that lets it write secrets (issue 22).
CLEANUP=()
cleanup() {
  local command
  for command in "${CLEANUP[@]}"; do
    eval "$command" || echo "warning: could not undo: $command" >&2
  done
}
trap cleanup EXIT
az account show --output none 2>/dev/null || fail "run az login first"
az config set extension.use_dynamic_install=yes_without_prompt --only-show-errors >/dev/null

step "1/9 Who deploys"
# ME_ID is the object id (Azure RBAC); ME_SQL_SID what the SQL Entra administrator is keyed by: the object id
# of a user or group, but the application (client) id of an application.
if [[ $(az account show --query user.type --output tsv) == servicePrincipal ]]; then  # a CI pipeline
  ME_TYPE=ServicePrincipal
  ME_APP_ID=$(az account show --query user.name --output tsv)
  ME_ID=$(token_object_id)
  # A service principal may not read Microsoft Graph: name it only when SQL_ADMIN_LOGIN does not.
  ME_LOGIN=${SQL_ADMIN_LOGIN:-$(az ad sp show --id "$ME_APP_ID" --query displayName --output tsv)}
  ME_SQL_TYPE=Application
  ME_SQL_SID=$ME_APP_ID
else
  ME_TYPE=User
  ME_ID=$(az ad signed-in-user show --query id --output tsv)
  ME_LOGIN=$(az ad signed-in-user show --query userPrincipalName --output tsv)
  ME_SQL_TYPE=User
  ME_SQL_SID=$ME_ID
fi
export SQL_ADMIN_LOGIN=${SQL_ADMIN_LOGIN:-$ME_LOGIN}
export SQL_ADMIN_OBJECT_ID=${SQL_ADMIN_OBJECT_ID:-$ME_SQL_SID}
export SQL_ADMIN_PRINCIPAL_TYPE=${SQL_ADMIN_PRINCIPAL_TYPE:-$ME_SQL_TYPE}
export USAGE_API_BASE_URL
if [[ -n ${DEPLOYER_IP:-} ]]; then
  [[ $DEPLOYER_IP =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] || fail "DEPLOYER_IP must be one IPv4 address, got $DEPLOYER_IP"
  export DEPLOYER_IP
fi
echo "subscription: $(az account show --query name --output tsv); SQL admin: $SQL_ADMIN_LOGIN ($SQL_ADMIN_PRINCIPAL_TYPE)"

step "2/9 Resource group $RESOURCE_GROUP"
if [[ $WHAT_IF_ONLY == 1 ]]; then
  if [[ $(az group exists --name "$RESOURCE_GROUP") != true ]]; then
    echo "resource group $RESOURCE_GROUP does not exist yet: nothing to compare, what-if skipped"
    exit 0
  fi
else
  az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --output none
fi

# A started trigger cannot be updated: stop it for the deployment (started again in step 8), and keep its
# first window, which must not move once the trigger has run.
EXISTING_FACTORY=$(az resource list --resource-group "$RESOURCE_GROUP" \
  --resource-type Microsoft.DataFactory/factories --query '[0].name' --output tsv)
if [[ -n $EXISTING_FACTORY ]] && az datafactory trigger show --factory-name "$EXISTING_FACTORY" \
    --resource-group "$RESOURCE_GROUP" --name "$TRIGGER_NAME" --output none 2>/dev/null; then
  PREVIOUS_START=$(az datafactory trigger show --factory-name "$EXISTING_FACTORY" --resource-group "$RESOURCE_GROUP" \
    --name "$TRIGGER_NAME" --query 'properties.startTime' --output tsv)  # the CLI flattens typeProperties
  export PIPELINE_START_DATE=${PIPELINE_START_DATE:-${PREVIOUS_START:0:10}}
  if [[ $WHAT_IF_ONLY != 1 ]]; then
    echo "stopping $TRIGGER_NAME for the update"
    az datafactory trigger stop --factory-name "$EXISTING_FACTORY" --resource-group "$RESOURCE_GROUP" \
      --name "$TRIGGER_NAME" --output none
  fi
fi
export PIPELINE_START_DATE=${PIPELINE_START_DATE:-$(yesterday_utc)}
echo "daily trigger starts at $PIPELINE_START_DATE"

# Data Factory's Azure integration runtime reaches SQL from the ranges of its service tag in this region
# ("Azure Integration Runtime IP addresses"): the firewall admits those, not every Azure tenant.
if [[ -z ${DATA_FACTORY_IP_RANGES:-} ]]; then
  REGION=$(az group show --name "$RESOURCE_GROUP" --query location --output tsv 2>/dev/null || echo "$LOCATION")
  PREFIXES=$(az network list-service-tags --location "$REGION" \
    --query "values[?properties.systemService=='DataFactory' && properties.region=='${REGION}'].properties.addressPrefixes[]" \
    --output tsv)
  DATA_FACTORY_IP_RANGES=$(printf '%s\n' "$PREFIXES" | python3 -c '
import ipaddress, json, sys
ranges = [ipaddress.ip_network(line.strip()) for line in sys.stdin if line.strip()]
print(json.dumps([{"startIpAddress": str(n[0]), "endIpAddress": str(n[-1])} for n in ranges if n.version == 4]))')
  [[ $DATA_FACTORY_IP_RANGES != "[]" ]] || fail "no DataFactory service tag ranges for region $REGION"
fi
export DATA_FACTORY_IP_RANGES
echo "SQL firewall: $(printf '%s' "$DATA_FACTORY_IP_RANGES" | grep -o startIpAddress | wc -l | tr -d ' ') Data Factory range(s)"

step "3/9 What-if"
WHAT_IF_FLAGS=()
[[ -z ${WHAT_IF_VALIDATION_LEVEL:-} ]] || WHAT_IF_FLAGS=(--validation-level "$WHAT_IF_VALIDATION_LEVEL")
az deployment group what-if --resource-group "$RESOURCE_GROUP" --name "$DEPLOYMENT_NAME" --parameters "$PARAMS_FILE" \
  "${WHAT_IF_FLAGS[@]}"
if [[ $WHAT_IF_ONLY == 1 ]]; then
  echo "what-if only (WHAT_IF_ONLY=1): nothing was changed"
  exit 0
fi
if [[ ${ASSUME_YES:-0} != 1 ]]; then
  read -r -p "Deploy these changes? [y/N] " answer
  [[ $answer == [yY]* ]] || fail "stopped before deploying"
fi

step "4/9 Deploy $PARAMS_FILE"
az deployment group create --resource-group "$RESOURCE_GROUP" --name "$DEPLOYMENT_NAME" \
  --parameters "$PARAMS_FILE" --output none
output() {
  az deployment group show --resource-group "$RESOURCE_GROUP" --name "$DEPLOYMENT_NAME" \
    --query "properties.outputs.$1.value" --output tsv
}
FUNCTION_APP=$(output functionAppName)
FUNCTION_HOST=$(output functionAppHostName)
KEY_VAULT=$(output keyVaultName)
SQL_FQDN=$(output sqlServerFqdn)
SQL_DATABASE=$(output sqlDatabaseName)
DATA_FACTORY=$(output dataFactoryName)
DASHBOARD_READER=$(output dashboardSqlIdentityName)
DASHBOARD_READER_CLIENT_ID=$(output dashboardSqlIdentityClientId)
DASHBOARD_SIGN_IN=$(output dashboardSignInPrincipalId)
echo "function app $FUNCTION_APP, key vault $KEY_VAULT, SQL $SQL_FQDN/$SQL_DATABASE, data factory $DATA_FACTORY"
if [[ -n ${DEPLOYER_IP:-} ]]; then  # the template opened SQL to this machine for steps 6-7: closed again on exit
  CLEANUP+=("az sql server firewall-rule delete --resource-group '$RESOURCE_GROUP' --server '${SQL_FQDN%%.*}' --name deployer --output none")
fi

step "5/9 Key Vault secrets"
# The vault is in RBAC mode: to write secrets the deployer needs Key Vault Secrets Officer on it. This is the
# one grant to a person, made here rather than in the template, and only on this vault.
KEY_VAULT_ID=$(az keyvault show --name "$KEY_VAULT" --query id --output tsv)
ensure_role() {  # role, scope: idempotent whatever the CLI version does with an assignment that exists
  local role=$1 scope=$2 error
  if [[ -n $(az role assignment list --assignee "$ME_ID" --role "$role" --scope "$scope" \
      --query '[0].id' --output tsv) ]]; then
    echo "role $role: already assigned"
    return
  fi
  if ! error=$(az role assignment create --assignee-object-id "$ME_ID" --assignee-principal-type "$ME_TYPE" \
      --role "$role" --scope "$scope" --output none 2>&1); then
    [[ $error == *RoleAssignmentExists* || $error == *"role assignment already exists"* ]] ||
      fail "could not assign $role: $error"
    echo "role $role: assigned by a concurrent run"
    return
  fi
  echo "role $role: assigned for this run (removed again on exit)"
  CLEANUP+=("az role assignment delete --assignee '$ME_ID' --role '$role' --scope '$scope' --output none")
}
if [[ ${SKIP_SECRETS:-0} == 1 ]]; then
  echo "skipped (SKIP_SECRETS=1): the secrets are set out of band (docs/security.md, rotation)"
else
ensure_role "Key Vault Secrets Officer" "$KEY_VAULT_ID"
set_secret() {  # name, environment variable; the value never appears on a command line or in output
  local name=$1 variable=$2 value=${!2:-}
  if [[ -z $value ]]; then
    if az keyvault secret show --vault-name "$KEY_VAULT" --name "$name" --output none 2>/dev/null; then
      echo "secret $name exists; set $variable to replace it"
      return
    fi
    [[ -t 0 ]] || fail "set $variable (secret $name does not exist yet)"
    read -r -s -p "$name ($variable): " value
    echo
  fi
  for attempt in 1 2 3 4 5 6 7 8 9 10; do  # the new role assignment takes a few minutes to apply
    if az keyvault secret set --vault-name "$KEY_VAULT" --name "$name" --file <(printf '%s' "$value") \
        --encoding utf-8 --output none 2>/dev/null; then
      echo "secret $name set"
      return
    fi
    echo "waiting for the Key Vault role to apply (attempt $attempt)"
    sleep 30
  done
  fail "could not set secret $name"
}
set_secret usage-api-key USAGE_API_KEY
set_secret slack-webhook-url SLACK_WEBHOOK_URL
fi

step "6/9 Warehouse schema and the Data Factory's database user"
[[ -n ${DEPLOYER_IP:-} ]] || echo "note: DEPLOYER_IP is unset; the SQL firewall admits you only if another rule does"
"$COMPANY_ACTIVITY" sql deploy --connection-string \
  "Driver={ODBC Driver 18 for SQL Server};Server=tcp:${SQL_FQDN},1433;Database=${SQL_DATABASE};Encrypt=yes;TrustServerCertificate=no;Authentication=ActiveDirectoryDefault"
# The factory's database user is created from its identity's application (client) id (WITH SID ... TYPE = E), so
# no Microsoft Graph lookup is needed: read it from ARM, not Graph, so that a CI service principal can too.
FACTORY_ID=$(az resource show --resource-group "$RESOURCE_GROUP" --name "$DATA_FACTORY" \
  --resource-type Microsoft.DataFactory/factories --query id --output tsv)
DATA_FACTORY_CLIENT_ID=$(az rest --method get \
  --url "${FACTORY_ID}/providers/Microsoft.ManagedIdentity/identities/default?api-version=2023-01-31" \
  --query properties.clientId --output tsv)
[[ -n $DATA_FACTORY_CLIENT_ID ]] || fail "could not read the client id of $DATA_FACTORY's managed identity"
# sqlcmd substitutes -v values as text into the script's literals and identifiers: only these shapes pass.
[[ $DATA_FACTORY =~ ^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$ ]] || fail "unexpected data factory name: $DATA_FACTORY"
[[ $DATA_FACTORY_CLIENT_ID =~ $GUID ]] || fail "unexpected client id of $DATA_FACTORY's identity: $DATA_FACTORY_CLIENT_ID"
sqlcmd -S "$SQL_FQDN" -d "$SQL_DATABASE" -G -b -v DataFactoryName="$DATA_FACTORY" \
  DataFactoryClientId="$DATA_FACTORY_CLIENT_ID" -i infra/sql/grant_identities.sql
# The dashboard's identity: a member of rpt_reader, nothing else (its name and client id checked the same way).
[[ $DASHBOARD_READER =~ ^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$ ]] || fail "unexpected dashboard identity name: $DASHBOARD_READER"
[[ $DASHBOARD_READER_CLIENT_ID =~ $GUID ]] || fail "unexpected client id of $DASHBOARD_READER: $DASHBOARD_READER_CLIENT_ID"
sqlcmd -S "$SQL_FQDN" -d "$SQL_DATABASE" -G -b -v DashboardReaderName="$DASHBOARD_READER" \
  DashboardReaderClientId="$DASHBOARD_READER_CLIENT_ID" -i infra/sql/grant_dashboard_reader.sql

step "7/9 Publish the Function App code"
if [[ ${SKIP_PUBLISH:-0} == 1 ]]; then
  echo "skipped (SKIP_PUBLISH=1): run 'func azure functionapp publish $FUNCTION_APP --python' in function_app/"
elif [[ -n ${PUBLISH_ZIP:-} ]]; then
  az functionapp deployment source config-zip --resource-group "$RESOURCE_GROUP" --name "$FUNCTION_APP" \
    --src "$PUBLISH_ZIP" --build-remote true --output none
else
  (cd function_app && func azure functionapp publish "$FUNCTION_APP" --python)
fi

step "8/9 Start the daily trigger"
az datafactory trigger start --factory-name "$DATA_FACTORY" --resource-group "$RESOURCE_GROUP" \
  --name "$TRIGGER_NAME" --output none
az datafactory trigger show --factory-name "$DATA_FACTORY" --resource-group "$RESOURCE_GROUP" \
  --name "$TRIGGER_NAME" --query 'properties.runtimeState' --output tsv

step "9/9 Smoke test: read yesterday's ingestion status"
if [[ ${SKIP_PUBLISH:-0} == 1 ]]; then
  echo "skipped: the code is not published"
else
  # An Entra access token for the API (the deployer needs its CompanyActivity.Read app role); the header goes
  # to curl on stdin, never on a command line.
  TOKEN=$(az account get-access-token --scope "api://${API_CLIENT_ID}/.default" --query accessToken --output tsv)
  DAY=$(yesterday_utc)
  for attempt in 1 2 3 4 5 6; do  # the functions answer once the host has indexed the new package
    if printf 'Authorization: Bearer %s\n' "$TOKEN" | curl --fail-with-body --silent --show-error --header @- \
        "https://${FUNCTION_HOST}/api/ingestions?start_date=${DAY}&end_date=${DAY}"; then
      echo
      break
    fi
    [[ $attempt -lt 6 ]] || fail "GET /api/ingestions failed: is the code published, and does the deployer hold the app role CompanyActivity.Read (docs/security.md)?"
    echo "waiting for the functions (attempt $attempt)"
    sleep 20
  done
fi

cat <<EOF

Deployed ${ENV_NAME}. The dashboard, for signed-in members of the allowed groups: https://${FUNCTION_HOST}/api/dashboard
Sign-in needs, once, a federated credential on the dashboard's app registration for the identity
${DASHBOARD_SIGN_IN} (docs/deploy.md, "The dashboard"; an owner of the registration runs it, no Azure role needed):
  az ad app federated-credential create --id ${DASHBOARD_AUTH_CLIENT_ID} --parameters \
    '{"name": "easy-auth-${FUNCTION_APP}", "issuer": "https://login.microsoftonline.com/<tenant id>/v2.0", "subject": "${DASHBOARD_SIGN_IN}", "audiences": ["api://AzureADTokenExchange"]}'

Watch the first pipeline run (the trigger's first window closes at ${PIPELINE_START_DATE} + 1 day, 02:00 UTC):
  az datafactory pipeline-run query-by-factory --factory-name ${DATA_FACTORY} --resource-group ${RESOURCE_GROUP} \\
    --last-updated-after $(yesterday_utc)T00:00:00Z --last-updated-before $(date -u -d tomorrow +%F 2>/dev/null || date -u -v+1d +%F)T00:00:00Z \\
    --query 'value[].{run:runId, status:status, start:runStart, message:message}' --output table
EOF
