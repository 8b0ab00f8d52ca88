#!/usr/bin/env bash
# Deploy one environment end to end: the runbook of docs/deploy.md as a script.
#
#   infra/deploy.sh dev                # or prod; any infra/env/<name>.bicepparam. The preflight runs first.
#   infra/deploy.sh --check dev        # only the preflight: tools and permissions; changes nothing
#   infra/deploy.sh --create-role dev  # an administrator (Owner or User Access Administrator), once per
#                                      # environment: the resource group and the Function App's custom role
#                                      # (docs/deploy.md, "Who may deploy")
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
#   CRM_WRITER_PRINCIPALS     comma-separated <User|Group|ServicePrincipal>:<object id>: who delivers the CRM
#                        export (Storage Blob Data Contributor on container crm only); docs/crm.md
#   REPLAY_READER_PRINCIPALS  the same form: who replays (Storage Blob Data Reader on bronze and crm only)
#   DEPLOYER_IP          your public IPv4 address: adds a SQL firewall rule so steps 6-7 can connect; the rule is
#                        removed again when the script exits, whatever the outcome
#   DASHBOARD_AUTH_CLIENT_ID  required: application (client) id of the dashboard's Entra app registration
#                        (docs/deploy.md, "The dashboard"); its federated credential is added once by an owner
#   DASHBOARD_ALLOWED_GROUPS  comma-separated object ids of the groups whose members may open the dashboard
#   DASHBOARD_ALLOWED_USERS   comma-separated object ids of users who may open it too (at least one group or user)
#   PIPELINE_START_DATE  first day the daily trigger loads (default: the existing trigger's, else yesterday UTC)
#   ASSUME_YES=1         do not ask before deploying after what-if
#   WHAT_IF_ONLY=1       stop after the what-if (steps 1-2), changing nothing: the pull-request check of CI
#   WHAT_IF_VALIDATION_LEVEL  --validation-level of the what-if: ProviderNoRbac checks read permissions only, so a
#                        Reader identity can run it (Azure CLI 2.76+; the pull-request identity of CI)
#   SKIP_SECRETS=1       leave the Key Vault secrets alone (CI: they are set out of band, docs/security.md)
#   PUBLISH_ZIP          publish this zip of function_app/ with `az functionapp deployment source config-zip`
#                        (remote build) instead of Core Tools: CI installs no npm package
#   SKIP_PUBLISH=1       skip publishing the Function App code (Azure Functions Core Tools not installed)
#   DATA_FACTORY_IP_RANGES  the SQL firewall's Data Factory ranges as JSON; default: read from the DataFactory
#                        service tag of the region (az network list-service-tags)
#   COMPANY_ACTIVITY     the company-activity CLI to run (default .venv/bin/company-activity, from make install-azure)
#
# Needs, each checked by the preflight: az 2.60+, go-sqlcmd, curl, python3, Azure Functions Core Tools v4 (func,
# unless PUBLISH_ZIP or SKIP_PUBLISH), the company-activity CLI with pyodbc and ODBC Driver 18 (make install-azure),
# and the permissions of infra/deployer-actions.tsv on the resource group.
set -euo pipefail

cd "$(dirname "$0")/.."

MODE=deploy
usage() {
  echo "usage: $0 [--check | --create-role] <environment>   (one of: $(basename -a -s .bicepparam infra/env/*.bicepparam | tr '\n' ' '))" >&2
  exit 2
}
case ${1:-} in
  --check) MODE=check; shift ;;
  --create-role) MODE=create-role; shift ;;
esac
[[ $# -eq 1 ]] || usage
ENV_NAME=$1
PARAMS_FILE="infra/env/${ENV_NAME}.bicepparam"
[[ -f $PARAMS_FILE ]] || usage

LOCATION=${LOCATION:-westeurope}
RESOURCE_GROUP=${RESOURCE_GROUP:-rg-company-activity-${ENV_NAME}}
DEPLOYMENT_NAME="company-activity-${ENV_NAME}-$(date -u +%Y%m%d%H%M%S)"
TRIGGER_NAME=TR_daily_company_activity
ROLE_TEMPLATE=infra/admin/backfill-starter-role.bicep
ROLE_NAME="Company activity backfill starter (${RESOURCE_GROUP})"  # the roleName $ROLE_TEMPLATE gives it
MIN_AZ_VERSION=2.60.0
WHAT_IF_ONLY=${WHAT_IF_ONLY:-0}
if [[ -z ${COMPANY_ACTIVITY:-} ]]; then  # this repository's CLI (make install-azure), else one on PATH
  if [[ -x .venv/bin/company-activity ]]; then COMPANY_ACTIVITY=.venv/bin/company-activity; else COMPANY_ACTIVITY=company-activity; fi
fi

UUID='[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}'
GUID="^${UUID}\$"

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "error: $*" >&2; exit 1; }
# The signed-in principal's object id from the oid claim of its ARM access token: no Microsoft Graph call.
token_object_id() {
  local payload
  payload=$(az account get-access-token --query accessToken --output tsv | cut -d. -f2 | tr '_-' '/+')
  while (( ${#payload} % 4 )); do payload+="="; done
  printf '%s' "$payload" | base64 -d | grep -o '"oid" *: *"[0-9a-f-]*"' | grep -o '[0-9a-f-]\{36\}'
}
yesterday_utc() { date -u -d 'yesterday' +%F 2>/dev/null || date -u -v-1d +%F; }

# -- preflight: everything the run needs, checked before anything is changed ------------------------------------
PROBLEMS=()
problem() { PROBLEMS+=("$*"); }
need_tool() {  # command, what it is and how to get it
  command -v "$1" >/dev/null 2>&1 || problem "$1 is not installed: $2"
}
version_at_least() { [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1) == "$2" ]]; }
check_tools() {
  need_tool az "Azure CLI $MIN_AZ_VERSION or later, https://learn.microsoft.com/cli/azure/install-azure-cli"
  if command -v az >/dev/null 2>&1; then
    local version
    version=$(az version --query '"azure-cli"' --output tsv 2>/dev/null || true)
    version_at_least "${version:-0}" "$MIN_AZ_VERSION" ||
      problem "az is version ${version:-unknown}, $MIN_AZ_VERSION or later is needed: az upgrade"
  fi
  [[ $WHAT_IF_ONLY == 1 || $MODE == create-role ]] && return 0
  need_tool curl "any package manager (apt-get install curl, brew install curl)"
  [[ -n ${DATA_FACTORY_IP_RANGES:-} ]] ||
    need_tool python3 "Python 3 (turns the DataFactory service tag's prefixes into SQL firewall ranges)"
  if ! command -v sqlcmd >/dev/null 2>&1; then
    problem "sqlcmd is not installed: go-sqlcmd, e.g. apt-get install sqlcmd or brew install sqlcmd (docs/deploy.md, Installing the SQL tools on a laptop)"
  elif ! sqlcmd --version >/dev/null 2>&1; then
    problem "sqlcmd is the ODBC sqlcmd, whose -G cannot use your az login: install go-sqlcmd (docs/deploy.md, Installing the SQL tools on a laptop)"
  fi
  [[ ${SKIP_PUBLISH:-0} == 1 || -n ${PUBLISH_ZIP:-} ]] ||
    need_tool func "Azure Functions Core Tools v4 (npm install --global azure-functions-core-tools@4), or set PUBLISH_ZIP or SKIP_PUBLISH=1"
  if [[ -n ${PUBLISH_ZIP:-} && ! -f $PUBLISH_ZIP ]]; then problem "PUBLISH_ZIP is not a file: $PUBLISH_ZIP"; fi
  if command -v "$COMPANY_ACTIVITY" >/dev/null 2>&1; then
    local driver
    driver=$("$COMPANY_ACTIVITY" sql check-driver 2>&1) || problem "${driver#error: }"
  else
    problem "the company-activity CLI ($COMPANY_ACTIVITY) is not installed: make install-azure"
  fi
}
# The signed-in principal's effective permissions at a scope (Microsoft.Authorization/permissions): one line per
# role assignment, "<actions>\t<notActions>", the actions separated by spaces.
permission_lines() {
  az rest --method get --url "${1}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01" \
    --query "value[].[join(' ', actions), join(' ', notActions)]" --output tsv
}
# Whether one role assignment allows the action: in its actions and not in the same role's notActions
# (case-insensitive, * matches anything).
allows() {  # action, permission lines
  local action=$1 lines=$2 actions not_actions pattern granted
  local -a allowed denied
  shopt -s nocasematch
  while IFS=$'\t' read -r actions not_actions; do
    read -r -a allowed <<< "$actions"
    read -r -a denied <<< "$not_actions"
    granted=0
    for pattern in "${allowed[@]}"; do [[ $action == $pattern ]] && granted=1; done
    for pattern in "${denied[@]}"; do [[ $action == $pattern ]] && granted=0; done
    if (( granted )); then shopt -u nocasematch; return 0; fi
  done <<< "$lines"
  shopt -u nocasematch
  return 1
}
check_permissions() {  # scope, permission lines: every action of infra/deployer-actions.tsv this run needs
  local scope=$1 lines=$2 action needed_by why granted_by
  while IFS=$'\t' read -r action needed_by why granted_by; do
    [[ -z $action || $action == \#* ]] && continue
    [[ $WHAT_IF_ONLY == 1 && $needed_by != what-if ]] && continue
    if [[ $WHAT_IF_ONLY == 1 && ${WHAT_IF_VALIDATION_LEVEL:-} == ProviderNoRbac && $action == */write ]]; then
      # ARM skips the write-permission check of each resource and of the deployment: reading them is enough.
      action=${action%/write}/read why="what-if with --validation-level ProviderNoRbac" granted_by=Reader
    fi
    allows "$action" "$lines" || problem "missing permission $action on $scope ($why): granted by $granted_by"
  done < infra/deployer-actions.tsv
}
preflight() {
  step "Preflight: tools and permissions (nothing is changed)"
  check_tools
  if ! command -v az >/dev/null 2>&1; then
    :  # reported above
  elif ! az account show --output none 2>/dev/null; then
    problem "not signed in: run az login (in CI, azure/login)"
  else
    SUBSCRIPTION_ID=$(az account show --query id --output tsv)
    GROUP_SCOPE=/subscriptions/$SUBSCRIPTION_ID/resourceGroups/$RESOURCE_GROUP
    GROUP_EXISTS=$(az group exists --name "$RESOURCE_GROUP")
    SCOPE=$GROUP_SCOPE
    [[ $GROUP_EXISTS == true ]] || SCOPE=/subscriptions/$SUBSCRIPTION_ID  # what you will hold on the new group
    local lines
    lines=$(permission_lines "$SCOPE")
    if [[ $GROUP_EXISTS != true && $WHAT_IF_ONLY != 1 ]]; then
      allows Microsoft.Resources/subscriptions/resourceGroups/write "$lines" ||
        problem "missing permission Microsoft.Resources/subscriptions/resourceGroups/write on $SCOPE (create resource group $RESOURCE_GROUP): granted by Contributor on the subscription, or an administrator creates it with infra/deploy.sh --create-role $ENV_NAME"
    fi
    if [[ -z ${DATA_FACTORY_IP_RANGES:-} ]] &&
        ! allows Microsoft.Network/locations/serviceTags/read "$(permission_lines "/subscriptions/$SUBSCRIPTION_ID")"; then
      problem "missing permission Microsoft.Network/locations/serviceTags/read on /subscriptions/$SUBSCRIPTION_ID (read the DataFactory service tag's ranges for the SQL firewall; without it Azure answers an empty list): granted by Reader on the subscription or the service tag reader role of docs/deploy.md (CI setup), or set DATA_FACTORY_IP_RANGES"
    fi
    CAN_CREATE_ROLE=false
    allows Microsoft.Authorization/roleDefinitions/write "$lines" && CAN_CREATE_ROLE=true
    ROLE_EXISTS=false ROLE_CURRENT=false
    local held wanted missing=()
    if [[ $GROUP_EXISTS == true && -n $(az role definition list --scope "$GROUP_SCOPE" --name "$ROLE_NAME" \
        --query '[0].name' --output tsv) ]]; then
      ROLE_EXISTS=true
      # A role defined before $ROLE_TEMPLATE gained an action (e.g. querypipelineruns for the 409 of a second
      # backfill) must be updated, or the Function App gets 403 for it: compare, action by action.
      held=$(az role definition list --scope "$GROUP_SCOPE" --name "$ROLE_NAME" \
        --query '[0].permissions[0].actions' --output tsv | tr '\t' '\n')
      for wanted in $(grep -o "'Microsoft\.DataFactory/[^']*'" "$ROLE_TEMPLATE" | tr -d "'"); do
        grep -qixF "$wanted" <<< "$held" || missing+=("$wanted")
      done
      (( ${#missing[@]} )) || ROLE_CURRENT=true
    fi
    if [[ $MODE == create-role ]]; then
      allows Microsoft.Resources/deployments/write "$lines" ||
        problem "missing permission Microsoft.Resources/deployments/write on $SCOPE (deploy $ROLE_TEMPLATE): granted by Owner or Contributor"
      [[ $CAN_CREATE_ROLE == true ]] ||
        problem "missing permission Microsoft.Authorization/roleDefinitions/write on $SCOPE (define the custom role '$ROLE_NAME'): granted by Owner or User Access Administrator"
    else
      check_permissions "$SCOPE" "$lines"
      if [[ $WHAT_IF_ONLY != 1 && $ROLE_EXISTS != true && $CAN_CREATE_ROLE != true ]]; then
        problem "the custom role '$ROLE_NAME' does not exist and creating it needs Microsoft.Authorization/roleDefinitions/write (Owner or User Access Administrator), which you do not have: an administrator runs 'infra/deploy.sh --create-role $ENV_NAME' once"
      elif [[ $WHAT_IF_ONLY != 1 && $ROLE_EXISTS == true && $ROLE_CURRENT != true && $CAN_CREATE_ROLE != true ]]; then
        problem "the custom role '$ROLE_NAME' lacks ${missing[*]}, which the Function App calls, and updating it needs Microsoft.Authorization/roleDefinitions/write (Owner or User Access Administrator), which you do not have: an administrator runs 'infra/deploy.sh --create-role $ENV_NAME' again"
      fi
    fi
  fi
  if (( ${#PROBLEMS[@]} )); then
    printf 'preflight: %s\n' "${PROBLEMS[@]}" >&2
    fail "the preflight found ${#PROBLEMS[@]} problem(s); nothing was changed"
  fi
  echo "preflight passed: the tools are installed and you hold every permission needed on $SCOPE"
}

# The Function App's custom role (start and read backfill runs) is defined once per resource group by whoever may
# write role definitions (Owner, User Access Administrator); the main template only references it. A deployer
# without that right (the CI service principal) needs an administrator to have run --create-role once.
create_role() {
  az deployment group create --resource-group "$RESOURCE_GROUP" --name "company-activity-role-$(date -u +%Y%m%d%H%M%S)" \
    --template-file "$ROLE_TEMPLATE" --output none
  echo "custom role '$ROLE_NAME' defined in $RESOURCE_GROUP"
}
# In GitHub Actions azure/login signs in with an OIDC token that lives 5 minutes, and az cannot renew it
# (Azure/azure-cli#28708): a token for a resource not asked for yet (Key Vault, SQL) fails with AADSTS700024 after
# that. So before those steps the script signs in again with a fresh token from the runner's OIDC endpoint, which
# a job with `id-token: write` may call (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN). Elsewhere it does nothing.
relogin_if_federated() {
  [[ ${ME_TYPE:-} == ServicePrincipal && -n ${ACTIONS_ID_TOKEN_REQUEST_URL:-} && -n ${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-} ]] ||
    return 0
  local answer token
  answer=$(curl --fail --silent --show-error --header "Authorization: bearer ${ACTIONS_ID_TOKEN_REQUEST_TOKEN}" \
    "${ACTIONS_ID_TOKEN_REQUEST_URL}&audience=api://AzureADTokenExchange") || fail "could not get a new OIDC token from GitHub"
  token=$(printf '%s' "$answer" | sed -n 's/.*"value" *: *"\([^"]*\)".*/\1/p')
  [[ -n $token ]] || fail "GitHub's OIDC token endpoint answered without a token"
  az login --service-principal --username "$ME_APP_ID" --tenant "$TENANT_ID" --federated-token "$token" \
    --allow-no-subscriptions --output none
  az account set --subscription "$SUBSCRIPTION_ID" --output none
  echo "signed in again with a fresh OIDC token"
}

if [[ $MODE == deploy || $MODE == check ]]; then
  [[ -n ${USAGE_API_BASE_URL:-} ]] || fail "set USAGE_API_BASE_URL to the usage API's base URL"
  [[ -n ${ALERT_EMAILS:-} ]] || fail "set ALERT_EMAILS to the comma-separated e-mail addresses of the backstop alerts"
  [[ $ALERT_EMAILS =~ ^[^,@[:space:]]+@[^,@[:space:]]+(,[^,@[:space:]]+@[^,@[:space:]]+)*$ ]] ||
    fail "ALERT_EMAILS must be e-mail addresses separated by commas (no spaces), got $ALERT_EMAILS"
  [[ ${API_CLIENT_ID:-} =~ $GUID ]] ||
    fail "set API_CLIENT_ID to the client id of the API's app registration (docs/security.md, \"Register the API\")"
  [[ ${DASHBOARD_AUTH_CLIENT_ID:-} =~ $GUID ]] ||
    fail "set DASHBOARD_AUTH_CLIENT_ID to the client id of the dashboard's app registration (docs/deploy.md)"
  [[ -n ${DASHBOARD_ALLOWED_GROUPS:-}${DASHBOARD_ALLOWED_USERS:-} ]] ||
    fail "set DASHBOARD_ALLOWED_GROUPS or DASHBOARD_ALLOWED_USERS: nobody could open the dashboard"
  export USAGE_API_BASE_URL ALERT_EMAILS API_CLIENT_ID ALERT_WEBHOOK_URL=${ALERT_WEBHOOK_URL:-} \
    ALERT_WEBHOOK_APP_OBJECT_ID=${ALERT_WEBHOOK_APP_OBJECT_ID:-}
  [[ -z $ALERT_WEBHOOK_URL || $ALERT_WEBHOOK_APP_OBJECT_ID =~ $GUID ]] ||
    fail "ALERT_WEBHOOK_URL needs ALERT_WEBHOOK_APP_OBJECT_ID: the action group calls it as a secure webhook (docs/deploy.md, Alerts)"
fi
if [[ -n ${DEPLOYER_IP:-} ]]; then
  [[ $DEPLOYER_IP =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] || fail "DEPLOYER_IP must be one IPv4 address, got $DEPLOYER_IP"
  export DEPLOYER_IP
fi
PRINCIPAL="(User|Group|ServicePrincipal):${UUID}"
for variable in CRM_WRITER_PRINCIPALS REPLAY_READER_PRINCIPALS; do  # the CRM feed, docs/crm.md
  value=${!variable:-}
  [[ -z $value || $value =~ ^$PRINCIPAL(,$PRINCIPAL)*$ ]] ||
    fail "$variable must be comma-separated <User|Group|ServicePrincipal>:<object id> entries, got $value"
  export "${variable?}=$value"
done

# What this run grants itself or opens only for its own steps is taken back when it exits, whatever the outcome:
# the deployer's SQL firewall rule and the Key Vault role that lets it write secrets (docs/security.md).
CLEANUP=()
cleanup() {
  local command
  for command in "${CLEANUP[@]}"; do
    eval "$command" || echo "warning: could not undo: $command" >&2
  done
}
trap cleanup EXIT

preflight
case $MODE in
  check) exit 0 ;;
  create-role)
    az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --output none
    create_role
    exit 0 ;;
esac
az config set extension.use_dynamic_install=yes_without_prompt --only-show-errors >/dev/null
TENANT_ID=$(az account show --query tenantId --output tsv)

# Who deploys.
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
echo "subscription: $(az account show --query name --output tsv); SQL admin: $SQL_ADMIN_LOGIN ($SQL_ADMIN_PRINCIPAL_TYPE)"

step "1/11 Resource group $RESOURCE_GROUP"
if [[ $WHAT_IF_ONLY == 1 ]]; then
  if [[ $GROUP_EXISTS != true ]]; then
    echo "resource group $RESOURCE_GROUP does not exist yet: nothing to compare, what-if skipped"
    exit 0
  fi
else
  az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --output none
  [[ $ROLE_CURRENT == true ]] || create_role  # missing or lacking an action, and you may: checked above
fi

step "2/11 Preview the changes (what-if)"
# A started trigger cannot be updated: stop it for the deployment (started again in step 9), and keep its
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
# Entra-only authentication goes into the SQL server's own properties only when the server is created; ARM
# refuses it on an existing server, which then gets it through its own API (infra/modules/sql.bicep).
SQL_SERVER_EXISTS=false
[[ -z $(az resource list --resource-group "$RESOURCE_GROUP" --resource-type Microsoft.Sql/servers \
  --query '[0].name' --output tsv) ]] || SQL_SERVER_EXISTS=true
export SQL_SERVER_EXISTS
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

step "3/11 Deploy $PARAMS_FILE"
az deployment group create --resource-group "$RESOURCE_GROUP" --name "$DEPLOYMENT_NAME" \
  --parameters "$PARAMS_FILE" --output none

step "4/11 Read the outputs"
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

step "5/11 Secrets"
relogin_if_federated
# The vault is in RBAC mode: to write secrets the deployer needs Key Vault Secrets Officer on it. This is the
# one grant to a person, made here rather than in the template, only on this vault and only for this run.
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
KEY_VAULT_ID=$(az keyvault show --name "$KEY_VAULT" --query id --output tsv)
ensure_role "Key Vault Secrets Officer" "$KEY_VAULT_ID"
set_secret() {  # name, environment variable; the value never appears on a command line or in output
  local name=$1 variable=$2 value=${!2:-} error=""
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
    if error=$(az keyvault secret set --vault-name "$KEY_VAULT" --name "$name" --file <(printf '%s' "$value") \
        --encoding utf-8 --output none 2>&1); then
      echo "secret $name set"
      return
    fi
    [[ $error == *AADSTS* ]] && break  # a sign-in problem, not the new role: waiting does not help
    echo "waiting for the Key Vault role to apply (attempt $attempt)"
    sleep 30
  done
  fail "could not set secret $name: $error"
}
set_secret usage-api-key USAGE_API_KEY
set_secret slack-webhook-url SLACK_WEBHOOK_URL
fi

step "6/11 Warehouse schema"
relogin_if_federated
[[ -n ${DEPLOYER_IP:-} ]] || echo "note: DEPLOYER_IP is unset; the SQL firewall admits you only if another rule does"
# A new or changed server firewall rule takes effect up to five minutes after the deployment (error 40615,
# "is not allowed to access the server", until then): wait for it instead of failing.
for attempt in $(seq 1 12); do
  if error=$(sqlcmd -S "$SQL_FQDN" -d "$SQL_DATABASE" -G -b -l 30 -Q "SET NOCOUNT ON; SELECT 1" 2>&1 >/dev/null); then
    break
  fi
  [[ $error == *"is not allowed to access the server"* ]] || fail "cannot connect to $SQL_FQDN: $error"
  (( attempt < 12 )) ||
    fail "the SQL firewall still refuses this machine after 6 minutes: is DEPLOYER_IP (${DEPLOYER_IP:-unset}) your public address? $error"
  echo "waiting for the SQL firewall rule to take effect (attempt $attempt of 12)"
  sleep 30
done
"$COMPANY_ACTIVITY" sql deploy --connection-string \
  "Driver={ODBC Driver 18 for SQL Server};Server=tcp:${SQL_FQDN},1433;Database=${SQL_DATABASE};Encrypt=yes;TrustServerCertificate=no;Authentication=ActiveDirectoryDefault"
step "7/11 The Data Factory's database user"
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

step "8/11 Publish the Function App"
relogin_if_federated
if [[ ${SKIP_PUBLISH:-0} == 1 ]]; then
  echo "skipped (SKIP_PUBLISH=1): run 'func azure functionapp publish $FUNCTION_APP --python' in function_app/"
elif [[ -n ${PUBLISH_ZIP:-} ]]; then
  az functionapp deployment source config-zip --resource-group "$RESOURCE_GROUP" --name "$FUNCTION_APP" \
    --src "$PUBLISH_ZIP" --build-remote true --output none
else
  (cd function_app && func azure functionapp publish "$FUNCTION_APP" --python)
fi

step "9/11 Start the daily trigger"
az datafactory trigger start --factory-name "$DATA_FACTORY" --resource-group "$RESOURCE_GROUP" \
  --name "$TRIGGER_NAME" --output none
az datafactory trigger show --factory-name "$DATA_FACTORY" --resource-group "$RESOURCE_GROUP" \
  --name "$TRIGGER_NAME" --query 'properties.runtimeState' --output tsv

step "10/11 Smoke test: read yesterday's ingestion status"
if [[ ${SKIP_PUBLISH:-0} == 1 ]]; then
  echo "skipped: the code is not published"
else
  relogin_if_federated  # a token for the API is a new resource
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

step "11/11 Watch the first run"
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
