// Production environment: zone-redundant storage for bronze (the system of record) and a group as
// the SQL administrator. Deployer values come from environment variables set by infra/deploy.sh.
using '../main.bicep'

var deployerIp = readEnvironmentVariable('DEPLOYER_IP', '')
var dashboardGroups = readEnvironmentVariable('DASHBOARD_ALLOWED_GROUPS', '')
var dashboardUsers = readEnvironmentVariable('DASHBOARD_ALLOWED_USERS', '')

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
param alertWebhookAppObjectId = readEnvironmentVariable('ALERT_WEBHOOK_APP_OBJECT_ID', '')
// The CRM feed (docs/crm.md): comma-separated '<principal type>:<object id>' entries, checked by infra/deploy.sh.
var crmWriters = readEnvironmentVariable('CRM_WRITER_PRINCIPALS', '')
var replayReaders = readEnvironmentVariable('REPLAY_READER_PRINCIPALS', '')
param crmWriterPrincipals = empty(crmWriters) ? [] : split(crmWriters, ',')
param replayReaderPrincipals = empty(replayReaders) ? [] : split(replayReaders, ',')
// The API's app registration (docs/security.md, "Register the API").
param apiClientId = readEnvironmentVariable('API_CLIENT_ID')
param sqlFirewallRules = empty(deployerIp) ? [] : [
  {
    name: 'deployer'
    startIpAddress: deployerIp
    endIpAddress: deployerIp
  }
]
// Data Factory's integration runtime ranges in the region, not every Azure tenant (deploy.sh reads them).
param sqlDataFactoryIpRanges = json(readEnvironmentVariable('DATA_FACTORY_IP_RANGES', '[]'))
param sqlAllowAzureServices = false
// The dashboard: its Entra app registration and who may open it (comma-separated object ids).
param dashboardAuthClientId = readEnvironmentVariable('DASHBOARD_AUTH_CLIENT_ID')
param dashboardAllowedGroupIds = empty(dashboardGroups) ? [] : split(dashboardGroups, ',')
param dashboardAllowedUserIds = empty(dashboardUsers) ? [] : split(dashboardUsers, ',')
param keyVaultPublicNetworkAccess = 'Enabled'
param storageSkuName = 'Standard_GZRS'
param tags = {
  costCenter: 'data-engineering'
}
