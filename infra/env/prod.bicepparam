// Production environment: zone-redundant storage for bronze (the system of record) and a group as
// the SQL administrator. Deployer values come from environment variables set by infra/deploy.sh.
using '../main.bicep'

var deployerIp = readEnvironmentVariable('DEPLOYER_IP', '')

param environmentName = 'prod'
param usageApiBaseUrl = readEnvironmentVariable('USAGE_API_BASE_URL')
param sqlAdminLogin = readEnvironmentVariable('SQL_ADMIN_LOGIN')
param sqlAdminObjectId = readEnvironmentVariable('SQL_ADMIN_OBJECT_ID')
param sqlAdminPrincipalType = readEnvironmentVariable('SQL_ADMIN_PRINCIPAL_TYPE', 'Group')
param pipelineStartDate = readEnvironmentVariable('PIPELINE_START_DATE')
// infra/deploy.sh sets SQL_SERVER_EXISTS: Entra-only authentication is a create-time property of the server.
param sqlServerExists = readEnvironmentVariable('SQL_SERVER_EXISTS', 'false') == 'true'
// Backstop alerts: comma-separated e-mail addresses (required) and an optional webhook.
param alertEmailAddresses = split(readEnvironmentVariable('ALERT_EMAILS'), ',')
param alertWebhookUrl = readEnvironmentVariable('ALERT_WEBHOOK_URL', '')
param sqlFirewallRules = empty(deployerIp) ? [] : [
  {
    name: 'deployer'
    startIpAddress: deployerIp
    endIpAddress: deployerIp
  }
]
param sqlAllowAzureServices = true
param keyVaultPublicNetworkAccess = 'Enabled'
param storageSkuName = 'Standard_GZRS'
param tags = {
  costCenter: 'data-engineering'
}
